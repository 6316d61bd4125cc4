package rtsp

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/nvr-project/nvr/internal/testcam"
)

// TestControlReads checks Stats.ControlReads: every read of the control
// connection is counted, and a read carries at least one packet's worth.
func TestControlReads(t *testing.T) {
	cam, err := testcam.Start(testcam.Options{Clip: testcam.ClipBase240, Speed: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, Config{URL: cam.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	handshake := s.Stats().ControlReads
	if handshake == 0 {
		t.Fatal("the handshake's reads were not counted")
	}
	n, stop := 0, errors.New("stop")
	if err := s.ReadPackets(ctx, func(*rtp.Packet) error {
		if n++; n == 200 {
			return stop
		}
		return nil
	}); !errors.Is(err, stop) {
		t.Fatal(err)
	}
	st := s.Stats()
	if reads := st.ControlReads - handshake; reads == 0 || reads > st.Packets+1 {
		t.Errorf("%d reads for %d packets", reads, st.Packets)
	}
}
