package testcam_test

import (
	"fmt"
	"time"

	"github.com/nvr-project/nvr/internal/testcam"
)

// A camera with Digest authentication that reboots three seconds into
// every session.
func ExampleStart() {
	cam, err := testcam.Start(testcam.Options{
		Clip:       testcam.ClipHigh360BFrame,
		Auth:       testcam.AuthDigest,
		Username:   "admin",
		Password:   "secret",
		CloseAfter: 3 * time.Second,
	})
	if err != nil {
		panic(err)
	}
	defer cam.Close()
	fmt.Println(cam.URL()) // rtsp://admin:secret@127.0.0.1:PORT/cam
}
