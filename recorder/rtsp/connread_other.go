//go:build !linux

package rtsp

import "errors"

const canSetLowat = false

func setLowat(fd, v int) error { return errors.ErrUnsupported }
