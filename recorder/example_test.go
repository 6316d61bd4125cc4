package recorder_test

import (
	"context"
	"fmt"
	"time"

	"github.com/nvr-project/nvr/recorder"
	"github.com/nvr-project/nvr/recorder/rtsp"
	"github.com/nvr-project/nvr/storage"
)

// A camera's job wired to the real index: every other dependency defaults
// to the real RTSP client, segment writer and clock.
func ExampleNewJob() {
	run := func(ctx context.Context, store *storage.Store) error {
		job, err := recorder.NewJob(recorder.Config{
			Camera:          "front-door",
			RTSP:            rtsp.Config{URL: "rtsp://admin:secret@192.0.2.10/stream1", Transport: "tcp"},
			SegmentDuration: time.Minute,
		}, recorder.Deps{Store: recorder.Segments(store)})
		if err != nil {
			return err
		}
		done := make(chan error, 1)
		go func() { done <- job.Run(ctx) }() // until ctx is cancelled; nil then
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case err := <-done:
				return err
			case <-tick.C:
				st := job.Status()
				fmt.Println(st.State, st.LastError) // LastError never holds the password
			}
		}
	}
	_ = run
	// Output:
}
