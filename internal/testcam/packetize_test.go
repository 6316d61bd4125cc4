package testcam

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
)

// depacketize is a reference reassembler for the tests (RFC 6184 §5.6–5.8):
// it returns the NAL units of one access unit's packets, or an error for
// anything the packetizer must never produce.
func depacketize(pkts []RTPPacketTemplate, maxPayload int) ([][]byte, error) {
	var out [][]byte
	var fu []byte
	for i, p := range pkts {
		if len(p.Payload) == 0 || len(p.Payload) > maxPayload {
			return nil, fmt.Errorf("packet %d: payload %d bytes, limit %d", i, len(p.Payload), maxPayload)
		}
		if p.Marker != (i == len(pkts)-1) {
			return nil, fmt.Errorf("packet %d: marker %v", i, p.Marker)
		}
		switch typ := p.Payload[0] & 0x1f; typ {
		case naluTypeSTAPA:
			b := p.Payload[1:]
			for len(b) > 0 {
				if len(b) < 2 {
					return nil, errors.New("STAP-A: odd tail")
				}
				n := int(b[0])<<8 | int(b[1])
				if n == 0 || n > len(b)-2 {
					return nil, errors.New("STAP-A: bad size")
				}
				out = append(out, b[2:2+n])
				b = b[2+n:]
			}
		case naluTypeFUA:
			if len(p.Payload) < 3 {
				return nil, errors.New("FU-A: empty")
			}
			start, end := p.Payload[1]&0x80 != 0, p.Payload[1]&0x40 != 0
			if start != (fu == nil) {
				return nil, fmt.Errorf("packet %d: FU-A start bit %v mid-unit", i, start)
			}
			if start {
				fu = []byte{p.Payload[0]&0xe0 | p.Payload[1]&0x1f}
			}
			fu = append(fu, p.Payload[2:]...)
			if end {
				out = append(out, fu)
				fu = nil
			}
		default:
			if fu != nil {
				return nil, errors.New("single NAL unit inside an FU-A")
			}
			out = append(out, p.Payload)
		}
	}
	if fu != nil {
		return nil, errors.New("unfinished FU-A")
	}
	return out, nil
}

// TestPacketize packetizes every clip at several MTUs and checks that the
// reference reassembler and gortsplib's decoder both get the frames back.
func TestPacketize(t *testing.T) {
	for _, name := range ClipNames {
		clip, err := LoadClip(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, mtu := range []int{16, 100, 1400, 10000, 65000} {
			t.Run(fmt.Sprintf("%s/%d", name, mtu), func(t *testing.T) {
				t.Parallel()
				frames := Packetize(clip, mtu)
				if len(frames) != len(clip.Frames) {
					t.Fatalf("%d frames, want %d", len(frames), len(clip.Frames))
				}
				stapA := 0
				for i, pk := range frames {
					got, err := depacketize(pk, mtu)
					if err != nil {
						t.Fatalf("frame %d: %v", i, err)
					}
					if !equalNALUs(got, clip.Frames[i].NALUs) {
						t.Fatalf("frame %d: NAL units differ", i)
					}
					for _, p := range pk {
						if p.Payload[0]&0x1f == naluTypeSTAPA {
							stapA++
						}
					}
				}
				// SPS+PPS go in one STAP-A whenever they fit.
				if mtu >= 100 && stapA == 0 {
					t.Error("no STAP-A for SPS+PPS")
				}
				if mtu < 100 {
					return // 150,000 packets: the reference check above is enough
				}
				dec := rtph264.Decoder{PacketizationMode: 1}
				if err := dec.Init(); err != nil {
					t.Fatal(err)
				}
				i := 0
				for _, p := range PacketizeRTP(clip, mtu, 1, 65500, 0xfffff000) {
					au, err := dec.Decode(p)
					if errors.Is(err, rtph264.ErrMorePacketsNeeded) {
						continue
					}
					if err != nil {
						t.Fatalf("gortsplib decoder: %v", err)
					}
					if !equalNALUs(au, clip.Frames[i].NALUs) || p.Timestamp != 0xfffff000+uint32(clip.Frames[i].PTS) {
						t.Fatalf("gortsplib AU %d differs (ts %d)", i, p.Timestamp)
					}
					i++
				}
				if i != len(clip.Frames) {
					t.Fatalf("gortsplib decoded %d AUs", i)
				}
			})
		}
	}
}

// FuzzPacketize packetizes arbitrary NAL units at arbitrary MTUs and
// checks the round trip and the size bound.
func FuzzPacketize(f *testing.F) {
	clip, err := LoadClip(ClipBase240)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bytes.Join(clip.Frames[0].NALUs, []byte{0, 0, 1}), 100)
	f.Add([]byte{0x67, 1, 2, 3, 0, 0, 1, 0x68, 4, 0, 0, 1, 0x65, 9, 9, 9, 9, 9}, 16)
	f.Add([]byte{0x67, 1, 2, 3, 0, 0, 1, 0x68, 4}, 8)
	f.Add([]byte{0x7c}, 1400)
	f.Fuzz(func(t *testing.T, annexB []byte, mtu int) {
		nalus := SplitAnnexB(append([]byte{0, 0, 1}, annexB...))
		if len(nalus) == 0 {
			return
		}
		for _, n := range nalus {
			// Types 24-31 are RTP aggregation/fragmentation types, never
			// NAL units of an H.264 stream (H.264 Table 7-1, RFC 6184 §5.2).
			if n[0]&0x1f >= 24 {
				return
			}
		}
		c := &Clip{Frames: []Frame{{NALUs: nalus}}}
		limit := max(mtu, minMaxPacketSize)
		got, err := depacketize(Packetize(c, mtu)[0], limit)
		if err != nil {
			t.Fatal(err)
		}
		if !equalNALUs(got, nalus) {
			t.Fatal("round trip differs")
		}
	})
}

// TestValidate checks that each bad field is reported by name, all at once.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		o      Options
		fields []string // "" entries: valid
	}{
		{"zero", Options{}, nil},
		{"all-faults", Options{CloseAfter: time.Second, StallAfter: time.Second, DropEvery: 3, ReorderEvery: 5,
			SPSChangeAfter: time.Second, NoSprop: true, Response: ResponseDrip, SessionTimeout: 20, RequireKeepalive: true,
			MaxPacketSize: 10000, SSRC: 1, AnnounceSSRC: true, Speed: 4}, nil},
		{"auth-no-user", Options{Auth: AuthDigest}, []string{"Username"}},
		{"bad-auth", Options{Auth: "ntlm", Username: "u"}, []string{"Auth"}},
		{"bad-clip", Options{Clip: "nope", SPSChangeClip: "nope2"}, []string{"Clip", "SPSChangeClip"}},
		{"bad-response", Options{Response: "weird"}, []string{"Response"}},
		{"negative", Options{CloseAfter: -1, StallAfter: -1, SPSChangeAfter: -1, DripInterval: -1},
			[]string{"CloseAfter", "StallAfter", "SPSChangeAfter", "DripInterval"}},
		{"every-one", Options{DropEvery: 1, ReorderEvery: 1}, []string{"DropEvery", "ReorderEvery"}},
		{"timeout", Options{SessionTimeout: maxSessionTimeout + 1}, []string{"SessionTimeout"}},
		{"mtu", Options{MaxPacketSize: 8}, []string{"MaxPacketSize"}},
		{"mtu-big", Options{MaxPacketSize: 70000}, []string{"MaxPacketSize"}},
		{"speed", Options{Speed: -1}, []string{"Speed"}},
		{"path", Options{Path: "/a b"}, []string{"Path"}},
		{"streams", Options{Streams: map[string]string{"/cam/": ClipBase240, "x y": ClipBase240, "/z": "nope"}}, []string{"Streams"}},
		{"streams-ok", Options{Streams: map[string]string{"sub": ClipBase240}}, nil},
		{"user-colon", Options{Auth: AuthBasic, Username: "a:b", Password: "hunter2"}, []string{"Username"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if len(tc.fields) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("err %v, want ErrInvalidOptions", err)
			}
			for _, f := range tc.fields {
				if !strings.Contains(err.Error(), f+":") {
					t.Errorf("%v does not name %s", err, f)
				}
			}
			if tc.o.Password != "" && strings.Contains(err.Error(), tc.o.Password) {
				t.Error("error contains the password")
			}
			if _, serr := Start(tc.o); !errors.Is(serr, ErrInvalidOptions) {
				t.Errorf("Start: %v", serr)
			}
		})
	}
}

// TestURL checks the URL with and without credentials (escaped) and path.
func TestURL(t *testing.T) {
	s := startServer(t, Options{Path: "live/main", Auth: AuthBasic, Username: "ad min", Password: "p@ss:/w"})
	want := "rtsp://ad%20min:p%40ss%3A%2Fw@" + s.Addr() + "/live/main"
	if s.URL() != want {
		t.Errorf("URL %q, want %q", s.URL(), want)
	}
	s2 := startServer(t, Options{})
	if s2.URL() != "rtsp://"+s2.Addr()+"/cam" || !strings.HasPrefix(s2.Addr(), "127.0.0.1:") {
		t.Errorf("URL %q", s2.URL())
	}
	if _, err := Start(Options{Addr: s2.Addr()}); err == nil {
		t.Error("Start on a used port succeeded")
	}
}
