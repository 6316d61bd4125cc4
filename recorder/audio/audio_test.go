package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpfragmented"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/g711"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"
)

// ascLCStereo44 is the AudioSpecificConfig of AAC-LC, 44.1 kHz, stereo.
var ascLCStereo44 = []byte{0x12, 0x10}

func collect(t *testing.T, d Depacketizer, pkts []*rtp.Packet) ([]Frame, []error) {
	t.Helper()
	var out []Frame
	var errs []error
	for _, p := range pkts {
		err := d.Push(p, func(f *Frame) {
			g := *f
			g.Data = append([]byte(nil), f.Data...)
			out = append(out, g)
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errs
}

// aus makes n distinct access units of the given sizes (cycled).
func aus(n int, sizes ...int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		b := make([]byte, sizes[i%len(sizes)])
		for j := range b {
			b[j] = byte(i*7 + j)
		}
		// Not an ADTS syncword: a raw frame starting with 0xff would be
		// stripped only if it also spelt its own length.
		b[0] = byte(i)
		out[i] = b
	}
	return out
}

func TestParseAACConfig(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
		want AACConfig
		err  error
	}{
		{"LC 44.1k stereo", ascLCStereo44, AACConfig{ObjectType: 2, SampleRate: 44100, OutputRate: 44100, Channels: 2, FrameLength: 1024}, nil},
		{"LC 8k mono", []byte{0x15, 0x88}, AACConfig{ObjectType: 2, SampleRate: 8000, OutputRate: 8000, Channels: 1, FrameLength: 1024}, nil},
		{"LC 48k mono 960", []byte{0x11, 0x8c}, AACConfig{ObjectType: 2, SampleRate: 48000, OutputRate: 48000, Channels: 1, FrameLength: 960}, nil},
		// HE-AAC explicit: aot 5, 24 kHz core, stereo, ext 48 kHz, core LC.
		{"HE-AAC", []byte{0x2b, 0x11, 0x88, 0x00}, AACConfig{ObjectType: 5, SampleRate: 24000, OutputRate: 48000, Channels: 2, FrameLength: 1024}, nil},
		{"main profile", []byte{0x0a, 0x10}, AACConfig{}, ErrUnsupported},
		{"PCE", []byte{0x12, 0x00}, AACConfig{}, ErrUnsupported},
		{"bad rate index", []byte{0x16, 0x90}, AACConfig{}, ErrMalformed},
		{"truncated", []byte{0x12}, AACConfig{}, ErrMalformed},
		{"empty", nil, AACConfig{}, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseAACConfig(c.b)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.Raw = nil
			if got.ObjectType != c.want.ObjectType || got.SampleRate != c.want.SampleRate || got.OutputRate != c.want.OutputRate ||
				got.Channels != c.want.Channels || got.FrameLength != c.want.FrameLength {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
			// mediacommon's parser, an independent reading, agrees.
			var mc mpeg4audio.AudioSpecificConfig
			if err := mc.Unmarshal(c.b); err != nil {
				t.Fatalf("mediacommon: %v", err)
			}
			aot := int(mc.Type)
			if mc.ExtensionType != 0 {
				// mediacommon names the core type and the extension apart.
				aot = int(mc.ExtensionType)
			}
			if mc.SampleRate != got.SampleRate || aot != got.ObjectType {
				t.Fatalf("mediacommon reads %+v", mc)
			}
		})
	}
	if _, err := ParseAACConfigHex("zz"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("hex: %v", err)
	}
}

func newGeneric(t *testing.T) *MPEG4Generic {
	t.Helper()
	p, err := ParseGenericParams(map[string]string{"sizelength": "13", "indexlength": "3", "indexdeltalength": "3", "mode": "AAC-hbr"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseAACConfig(ascLCStereo44)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewMPEG4Generic(p, cfg, 44100)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func gortEncoder(t *testing.T, maxPayload int) *rtpmpeg4audio.Encoder {
	t.Helper()
	ssrc, seq := uint32(0x1234), uint16(65530) // wraps within the test (R16)
	e := &rtpmpeg4audio.Encoder{PayloadType: 96, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3,
		SSRC: &ssrc, InitialSequenceNumber: &seq, PayloadMaxSize: maxPayload}
	if err := e.Init(); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestMPEG4GenericGortsplib feeds what gortsplib's RFC 3640 packetizer
// makes of real-sized AUs: several per packet, and AUs larger than a
// packet, fragmented.
func TestMPEG4GenericGortsplib(t *testing.T) {
	for _, tc := range []struct {
		name       string
		maxPayload int
		sizes      []int
	}{
		{"aggregated", 1450, []int{200, 371, 10, 90}},
		{"fragmented", 300, []int{700, 1200, 301}},
		{"mixed", 500, []int{100, 900, 50, 60, 70}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := gortEncoder(t, tc.maxPayload)
			in := aus(40, tc.sizes...)
			var pkts []*rtp.Packet
			// gortsplib takes batches of AUs; timestamps advance by 1024 per AU.
			for i := 0; i < len(in); i += 4 {
				ps, err := e.Encode(in[i : i+4])
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range ps {
					p.Timestamp += uint32(i * 1024)
				}
				pkts = append(pkts, ps...)
			}
			d := newGeneric(t)
			out, errs := collect(t, d, pkts)
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if len(out) != len(in) {
				t.Fatalf("%d frames, want %d", len(out), len(in))
			}
			base := out[0].PTS
			for i, f := range out {
				if !bytes.Equal(f.Data, in[i]) {
					t.Fatalf("frame %d differs", i)
				}
				if f.PTS-base != int64(i*1024) || f.Duration != 1024 {
					t.Fatalf("frame %d at %d (dur %d), want %d", i, f.PTS-base, f.Duration, i*1024)
				}
			}
		})
	}
}

// genericPacket builds an RFC 3640 payload with 13/3 AU-headers.
func genericPacket(seq uint16, ts uint32, marker bool, sizes []int, data []byte) *rtp.Packet {
	bits := 16 * len(sizes)
	b := []byte{byte(bits >> 8), byte(bits)}
	for _, s := range sizes {
		b = binary.BigEndian.AppendUint16(b, uint16(s<<3))
	}
	b = append(b, data...)
	return &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, SSRC: 1, Marker: marker}, Payload: b}
}

// TestMPEG4GenericLoss: a lost packet leaves a gap of its own length, the
// following AUs keep their RTP time, and an AU that lost a fragment is
// dropped rather than emitted short.
func TestMPEG4GenericLoss(t *testing.T) {
	a := aus(6, 100)
	big := bytes.Repeat([]byte{0x21}, 500)
	pkts := []*rtp.Packet{
		genericPacket(1, 0, true, []int{100, 100}, append(append([]byte{}, a[0]...), a[1]...)),
		// seq 2 (AUs 2, 3 at ts 2048) lost
		genericPacket(3, 4096, true, []int{100}, a[4]),
		// A fragmented AU whose middle fragment is lost.
		genericPacket(4, 5120, false, []int{500}, big[:200]),
		genericPacket(6, 5120, true, []int{500}, big[400:]),
		genericPacket(7, 6144, true, []int{100}, a[5]),
	}
	d := newGeneric(t)
	out, errs := collect(t, d, pkts)
	var pts []int64
	for _, f := range out {
		pts = append(pts, f.PTS)
	}
	want := []int64{0, 1024, 4096, 6144}
	if len(pts) != len(want) {
		t.Fatalf("PTS %v, want %v", pts, want)
	}
	for i := range want {
		if pts[i] != want[i] {
			t.Fatalf("PTS %v, want %v", pts, want)
		}
	}
	if st := d.Stats(); st.Lost != 2 || st.Dropped == 0 {
		t.Fatalf("stats %+v", st)
	}
	lossErrs := 0
	for _, err := range errs {
		if errors.Is(err, ErrPacketLoss) {
			lossErrs++
		}
	}
	if lossErrs < 1 {
		t.Fatalf("errors %v", errs)
	}
}

// TestADTSInsideMPEG4Generic: cameras that wrap each AU in an ADTS header
// (the quirk gortsplib's decoder handles) yield the raw AU.
func TestADTSInsideMPEG4Generic(t *testing.T) {
	raw := aus(1, 50)[0]
	adts := mpeg4audio.ADTSPacket{Type: 2, SampleRate: 44100, ChannelConfig: 2, AU: raw}
	framed, err := mpeg4audio.ADTSPackets{&adts}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	crc := append([]byte{}, framed...)
	crc[1] &^= 1 // protection_absent = 0: two CRC bytes after the header
	crc = append(crc[:7], append([]byte{0xab, 0xcd}, crc[7:]...)...)
	n := len(crc)
	crc[3] = crc[3]&^3 | byte(n>>11)
	crc[4] = byte(n >> 3)
	crc[5] = crc[5]&0x1f | byte(n<<5)
	for name, au := range map[string][]byte{"adts": framed, "adts+crc": crc} {
		d := newGeneric(t)
		out, errs := collect(t, d, []*rtp.Packet{genericPacket(1, 0, true, []int{len(au)}, au)})
		if len(errs) > 0 || len(out) != 1 || !bytes.Equal(out[0].Data, raw) {
			t.Fatalf("%s: %d frames, errors %v", name, len(out), errs)
		}
		if d.Stats().Stripped != 1 {
			t.Fatalf("%s: stats %+v", name, d.Stats())
		}
	}
	// A raw AU that merely starts with 0xFFF but does not spell its own
	// length is kept whole.
	odd := append([]byte{0xff, 0xf1, 0, 0, 0, 0, 0}, raw...)
	d := newGeneric(t)
	out, _ := collect(t, d, []*rtp.Packet{genericPacket(1, 0, true, []int{len(odd)}, odd)})
	if len(out) != 1 || !bytes.Equal(out[0].Data, odd) {
		t.Fatal("a non-ADTS AU was altered")
	}
}

func TestMPEG4GenericHostile(t *testing.T) {
	cases := []struct {
		name string
		p    []byte
		err  error
	}{
		{"empty", nil, ErrMalformed},
		{"headers beyond payload", []byte{0x00, 0xff, 1}, ErrMalformed},
		{"sizes beyond data", []byte{0x00, 0x20, 0x00, 0x18, 0x00, 0x18, 1, 2, 3}, ErrMalformed},
		{"no AU-header", []byte{0x00, 0x00, 1, 2}, ErrMalformed},
		{"interleaved", []byte{0x00, 0x10, 0x00, 0x0a, 1}, ErrUnsupported},
		{"partial header", []byte{0x00, 0x0c, 0x00, 0x08, 1}, ErrMalformed},
		{"too many AUs", append([]byte{0x04, 0x10}, make([]byte, 130)...), ErrTooLarge},
	}
	for _, c := range cases {
		d := newGeneric(t)
		err := d.Push(&rtp.Packet{Header: rtp.Header{SequenceNumber: 1, Marker: false}, Payload: c.p}, func(*Frame) {})
		if !errors.Is(err, c.err) {
			t.Fatalf("%s: err %v, want %v", c.name, err, c.err)
		}
	}
	// A fragment announcing more bytes than its fragments bring.
	d := newGeneric(t)
	_, errs := collect(t, d, []*rtp.Packet{
		genericPacket(1, 0, false, []int{300}, make([]byte, 100)),
		genericPacket(2, 0, true, []int{300}, make([]byte, 100)),
	})
	if len(errs) == 0 || d.Stats().Frames != 0 {
		t.Fatalf("short fragmented AU: errors %v, stats %+v", errs, d.Stats())
	}
	// A fragmented AU that never ends (no marker, one timestamp) is
	// bounded by MaxFrameSize.
	d = newGeneric(t)
	var err error
	for i := 0; i < 20 && err == nil; i++ {
		err = d.Push(genericPacket(uint16(i), 0, false, []int{1000}, make([]byte, 1000)), func(*Frame) { t.Fatal("emitted") })
	}
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("endless fragments: %v", err)
	}
	if _, err := ParseGenericParams(map[string]string{}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("no sizelength: %v", err)
	}
	if _, err := ParseGenericParams(map[string]string{"sizelength": "99"}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("sizelength 99: %v", err)
	}
}

// latmConfig is an AAC-LC 44.1 kHz stereo StreamMuxConfig made by
// mediacommon, an independent writer.
func latmConfig(t testing.TB) *mpeg4audio.StreamMuxConfig {
	t.Helper()
	return &mpeg4audio.StreamMuxConfig{
		Programs: []*mpeg4audio.StreamMuxConfigProgram{{Layers: []*mpeg4audio.StreamMuxConfigLayer{{
			AudioSpecificConfig: &mpeg4audio.AudioSpecificConfig{Type: 2, SampleRate: 44100, ChannelConfig: 2},
			LatmBufferFullness:  255,
		}}}},
	}
}

func latmPackets(t *testing.T, inBand bool, in [][]byte, maxPayload int) ([]*rtp.Packet, map[string]string) {
	t.Helper()
	cfg := latmConfig(t)
	raw, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	fmtp := map[string]string{"cpresent": "0", "config": hexString(raw)}
	if inBand {
		fmtp = map[string]string{"cpresent": "1"}
	}
	ssrc, seq := uint32(9), uint16(100)
	e := &rtpfragmented.Encoder{PayloadType: 96, SSRC: &ssrc, InitialSequenceNumber: &seq, PayloadMaxSize: maxPayload}
	if err := e.Init(); err != nil {
		t.Fatal(err)
	}
	var pkts []*rtp.Packet
	for i, au := range in {
		el := mpeg4audio.AudioMuxElement{MuxConfigPresent: inBand, StreamMuxConfig: cfg, UseSameStreamMux: inBand && i%3 != 0,
			Payloads: [][][][]byte{{{au}}}}
		b, err := el.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		ps, err := e.Encode(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			p.Timestamp = uint32(i * 1024)
		}
		pkts = append(pkts, ps...)
	}
	return pkts, fmtp
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, v := range b {
		out = append(out, digits[v>>4], digits[v&15])
	}
	return string(out)
}

func TestLATM(t *testing.T) {
	for _, tc := range []struct {
		name       string
		inBand     bool
		maxPayload int
	}{
		{"cpresent=0", false, 1450},
		{"cpresent=0 fragmented", false, 100},
		{"cpresent=1 in-band", true, 1450},
		{"cpresent=1 fragmented", true, 120},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := aus(12, 200, 40, 333, 255, 256)
			pkts, fmtp := latmPackets(t, tc.inBand, in, tc.maxPayload)
			d, err := NewLATM(44100, fmtp)
			if err != nil {
				t.Fatal(err)
			}
			out, errs := collect(t, d, pkts)
			if len(errs) > 0 {
				t.Fatalf("errors %v", errs)
			}
			if len(out) != len(in) {
				t.Fatalf("%d frames, want %d", len(out), len(in))
			}
			for i, f := range out {
				if !bytes.Equal(f.Data, in[i]) || f.PTS != int64(i*1024) || f.Duration != 1024 {
					t.Fatalf("frame %d: %d bytes at %d", i, len(f.Data), f.PTS)
				}
			}
			cfg, ok := d.Config()
			if !ok || !bytes.Equal(cfg.Raw, ascLCStereo44) || cfg.Codec() != "mp4a.40.2" {
				t.Fatalf("config %+v %v", cfg, ok)
			}
		})
	}
}

func TestLATMHostile(t *testing.T) {
	if _, err := NewLATM(44100, map[string]string{"cpresent": "0"}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("cpresent=0 without config: %v", err)
	}
	// Configs that end inside frameLengthType, as GStreamer's rtpmp4apay
	// and RFC 6416's example write them, read as frameLengthType 0.
	for _, c := range []struct {
		cfg  string
		rate int
		asc  []byte
	}{{"40002410", 44100, []byte{0x12, 0x08}}, {"40002810", 16000, []byte{0x14, 0x08}}} {
		d, err := NewLATM(c.rate, map[string]string{"cpresent": "0", "config": c.cfg})
		if err != nil {
			t.Fatalf("config %s: %v", c.cfg, err)
		}
		if got, _ := d.Config(); got.SampleRate != c.rate || got.Channels != 1 || !bytes.Equal(got.Raw, c.asc) {
			t.Fatalf("config %s: %+v", c.cfg, got)
		}
	}
	// One cut inside the AudioSpecificConfig is still refused.
	if _, err := NewLATM(44100, map[string]string{"cpresent": "0", "config": "4000"}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated config: %v", err)
	}
	// An in-band stream whose first element says "same config as before".
	d, _ := NewLATM(44100, map[string]string{})
	err := d.Push(&rtp.Packet{Header: rtp.Header{Marker: true}, Payload: []byte{0x80, 0x01, 0x02}}, func(*Frame) { t.Fatal("emitted") })
	if !errors.Is(err, ErrPacketLoss) {
		t.Fatalf("element before config: %v", err)
	}
	// Lengths beyond the element.
	pkts, fmtp := latmPackets(t, false, aus(1, 30), 1450)
	d, _ = NewLATM(44100, fmtp)
	p := pkts[0]
	p.Payload = p.Payload[:10]
	if err := d.Push(p, func(*Frame) {}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated: %v", err)
	}
	// An element that never ends is bounded.
	d, _ = NewLATM(44100, fmtp)
	var err2 error
	for i := 0; i < 20 && err2 == nil; i++ {
		err2 = d.Push(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(i)}, Payload: make([]byte, 1000)}, func(*Frame) {})
	}
	if !errors.Is(err2, ErrTooLarge) {
		t.Fatalf("endless element: %v", err2)
	}
}

func TestG711Tables(t *testing.T) {
	for _, tc := range []struct {
		codec string
		ref   func([]byte) []byte
	}{
		{"PCMU", func(b []byte) []byte { var m g711.Mulaw; m.Unmarshal(b); return m }},
		{"PCMA", func(b []byte) []byte { var a g711.Alaw; a.Unmarshal(b); return a }},
	} {
		d, err := NewG711(tc.codec, 1)
		if err != nil {
			t.Fatal(err)
		}
		in := make([]byte, 256)
		for i := range in {
			in[i] = byte(i)
		}
		got := d.Decode(nil, in)
		ref := tc.ref(in) // big-endian 16-bit
		for i := range got {
			if want := int16(binary.BigEndian.Uint16(ref[2*i:])); got[i] != want {
				t.Fatalf("%s byte %#02x: %d, mediacommon %d", tc.codec, i, got[i], want)
			}
		}
	}
	if _, err := NewG711("G726", 1); !errors.Is(err, ErrUnsupported) {
		t.Fatal(err)
	}
}

// TestG711Timing: any packet duration; a lost packet leaves its slot and
// what follows keeps its RTP time; bounds hold.
func TestG711Timing(t *testing.T) {
	d, _ := NewG711("PCMA", 1)
	mk := func(seq uint16, ts uint32, n int) *rtp.Packet {
		return &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts, SSRC: 5}, Payload: make([]byte, n)}
	}
	base := uint32(4294967000) // RTP time wraps within the test (R14)
	out, errs := collect(t, d, []*rtp.Packet{
		mk(65535, base, 160), mk(0, base+160, 320) /* seq 1 lost */, mk(2, base+160+320+240, 240), mk(3, base+160+320+480, 1),
	})
	want := []struct{ pts, dur int64 }{{4294967000, 160}, {4294967160, 320}, {4294967720, 240}, {4294967960, 1}}
	if len(out) != len(want) {
		t.Fatalf("%d frames", len(out))
	}
	for i, w := range want {
		if out[i].PTS != w.pts || out[i].Duration != w.dur {
			t.Fatalf("frame %d: %d/%d, want %d/%d", i, out[i].PTS, out[i].Duration, w.pts, w.dur)
		}
	}
	if len(errs) != 1 || !errors.Is(errs[0], ErrPacketLoss) || d.Stats().Lost != 1 {
		t.Fatalf("errors %v, stats %+v", errs, d.Stats())
	}
	if err := d.Push(mk(4, 0, MaxPacketSamples+1), func(*Frame) {}); !errors.Is(err, ErrTooLarge) {
		t.Fatal(err)
	}
	if err := d.Push(mk(5, 0, 0), func(*Frame) {}); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
	s, _ := NewG711("PCMU", 2)
	if err := s.Push(mk(1, 0, 3), func(*Frame) {}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("odd stereo: %v", err)
	}
	// A late (reordered) packet is dropped, not emitted back in time.
	if err := d.Push(mk(1, base+480, 240), func(*Frame) { t.Fatal("late packet emitted") }); !errors.Is(err, ErrPacketLoss) {
		t.Fatal(err)
	}
}

func TestOpusDuration(t *testing.T) {
	cases := []struct {
		p    []byte
		want int64
		err  error
	}{
		{[]byte{0xfc, 1, 2}, 960, nil},        // CELT FB 20 ms, code 0
		{[]byte{0x78, 1}, 960, nil},           // hybrid FB 20 ms
		{[]byte{0x08}, 960, nil},              // SILK NB 20 ms, empty frame (DTX)
		{[]byte{0x18}, 2880, nil},             // SILK NB 60 ms
		{[]byte{0x80}, 120, nil},              // CELT NB 2.5 ms
		{[]byte{0xfd, 1, 2}, 1920, nil},       // code 1: two frames
		{[]byte{0xfd, 1}, 0, ErrMalformed},    // code 1, odd length
		{[]byte{0xfe, 1, 9}, 1920, nil},       // code 2
		{[]byte{0xfe, 5, 9}, 0, ErrMalformed}, // code 2, first frame beyond
		{[]byte{0xfe, 252}, 0, ErrMalformed},  // code 2, truncated length
		{[]byte{0xff, 0x03, 0}, 2880, nil},    // code 3, three 20 ms frames
		{[]byte{0xff, 0x07}, 0, ErrMalformed}, // code 3, 140 ms
		{[]byte{0xff, 0x00}, 0, ErrMalformed}, // code 3, no frames
		{[]byte{0xff}, 0, ErrMalformed},       // code 3, no count
		{[]byte{0x1b, 0x02}, 5760, nil},       // SILK 60 ms code 3 ×2 = 120 ms
		{nil, 0, ErrMalformed},
	}
	for _, c := range cases {
		got, err := OpusDuration(c.p)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Fatalf("% x: err %v, want %v", c.p, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Fatalf("% x: %d %v, want %d", c.p, got, err, c.want)
		}
	}
	if _, err := NewOpus(8000); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
}

func TestOpusTiming(t *testing.T) {
	d, err := NewOpus(48000)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(seq uint16, ts uint32, p []byte) *rtp.Packet {
		return &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts}, Payload: p}
	}
	out, errs := collect(t, d, []*rtp.Packet{
		mk(1, 1000, []byte{0xfc, 1}), mk(3, 1000+1920, []byte{0xfc, 1}), mk(4, 1000+2880, []byte{0x18, 1}), mk(5, 0, []byte{0xff}),
	})
	if len(out) != 3 || out[1].PTS != 2920 || out[2].Duration != 2880 || len(errs) != 2 {
		t.Fatalf("frames %+v errors %v", out, errs)
	}
}
