package rtsp

import "syscall"

const canSetLowat = true

func setLowat(fd, v int) error {
	return syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, v)
}
