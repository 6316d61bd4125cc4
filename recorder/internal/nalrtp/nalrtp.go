// Package nalrtp is what RTP depacketizing of H.264 (RFC 6184) and H.265
// (RFC 7798) have in common: both carry NAL units alone, aggregated behind
// 16-bit lengths, or fragmented behind a header with start and end bits,
// and both need the same loss detection, timestamp extension, access unit
// bounds, keyframe gating and decode times.
//
// It owns that state machine (Depacketizer), the decode-time tracker, the
// Annex B start code helpers, the tolerant base64 of sprop values and the
// sample aspect ratio table the two codecs share (Table E-1 of both).
// It does not own anything that reads a NAL unit header or a parameter
// set: a codec package (recorder/h264, recorder/h265) supplies that through
// Codec and wraps the Frames it gets into its own access units. Like those
// packages it is a pure leaf: no goroutines, no I/O, no logging.
package nalrtp

// MaxAccessUnitSize bounds the bytes of one access unit: a 50 Mbit/s
// 2160p60 stream stays below 8 MiB per picture in H.264 and H.265 alike
// (the bound of mediacommon's h264 and h265 packages), so a larger one is a
// runaway fragment or garbage.
const MaxAccessUnitSize = 8 << 20

// Errors are the sentinels of the codec package, which every error of a
// Depacketizer wraps, so callers of recorder/h264 and recorder/h265 branch
// on their own package's values.
type Errors struct {
	PacketLoss, Malformed, TooLarge, NoParams, Timing error
}

// Config describes one codec's RTP payload format to a Depacketizer.
type Config struct {
	Codec  Codec
	Errors Errors
	// HeaderLen is the size of a NAL unit header: 1 for H.264, 2 for
	// H.265. Aggregation units start after it; the FU header follows it.
	HeaderLen int
	// MaxNALUs bounds the NAL units kept per access unit.
	MaxNALUs int
	// AggName and FUName name the aggregation and fragmentation packets in
	// errors ("STAP-A"/"FU-A", "AP"/"FU").
	AggName, FUName string
}

// PayloadKind is what an RTP payload carries, by its first NAL header.
type PayloadKind int

const (
	Single      PayloadKind = iota // one NAL unit
	Aggregation                    // STAP-A (RFC 6184 §5.7.1), AP (RFC 7798 §4.4.2)
	Fragment                       // FU-A (RFC 6184 §5.8), FU (RFC 7798 §4.4.3)
	Unsupported                    // a defined packet type nalrtp cannot take (interleaved mode, PACI): rejected
	Undefined                      // a reserved type the RFC lets receivers ignore
)

// Class is what a NAL unit means to access unit assembly.
type Class struct {
	Filler bool // stuffing: discarded, never counted or kept
	VCL    bool // a slice of the picture
	// Key marks a slice of a random access picture (H.264 IDR, H.265
	// IRAP); Open marks one after which leading pictures may reference
	// what came before it (H.265 CRA): see Skippable.
	Key, Open bool
	// Skippable marks a slice of a picture that cannot be decoded when
	// decoding started at the preceding Open key (H.265 RASL, 8.1.3):
	// such pictures are dropped until the next key.
	Skippable bool
	// Param is 1 + the slot of a parameter set (SPS, PPS, ...), 0 for any
	// other unit. Slots are the codec's; at most MaxParamSlots.
	Param int
}

// MaxParamSlots is the number of distinct parameter set kinds a codec may
// have (H.265: VPS, SPS, PPS).
const MaxParamSlots = 3

// Codec is what a Depacketizer needs to know about NAL units. The codec
// package implements it on an unexported type, so these methods stay out of
// its public API.
type Codec interface {
	// Payload classifies an RTP payload (at least one byte) and returns
	// its NAL unit type for error messages.
	Payload(p []byte) (PayloadKind, int)
	// FUHeader rebuilds the header of a fragmented NAL unit from the
	// payload of its first fragment (at least HeaderLen+1 bytes) and
	// returns it in the first HeaderLen bytes.
	FUHeader(p []byte) [2]byte
	// Classify says what a NAL unit (at least one byte) is.
	Classify(nalu []byte) Class
	// StartsAU reports whether a payload begins with a NAL unit that can
	// only open an access unit, so that one visibly starts after a loss.
	StartsAU(p []byte) bool
	// SetParam installs a parameter set found in-band in slot; an error
	// says why it was ignored (it does not parse).
	SetParam(slot int, b []byte) error
	// HaveParams reports whether every parameter set a keyframe needs is
	// known.
	HaveParams() bool
}

// Frame is one picture in decode order, as handed to the codec package.
// NALUs (without start codes) point into the Depacketizer's buffer and are
// valid only during the emit callback.
type Frame struct {
	NALUs    [][]byte
	PTS, DTS int64 // 90 kHz, extended to 64 bits; DTS <= PTS
	Keyframe bool
}

// Stats counts what a Depacketizer has seen since it was made. Reset does
// not clear it.
type Stats struct {
	Packets, Lost          uint64 // RTP packets seen; sequence numbers missing (no false loss at 65535→0, R16)
	AccessUnits, Keyframes uint64 // access units emitted, of which keyframes
	DroppedAUs             uint64 // damaged AUs discarded (gaps, broken fragments, oversize, malformed packet, no DTS)
	Rejected               uint64 // malformed packets rejected
	Late                   uint64 // packets older than one already seen (reordered or duplicate), discarded
	SkippedAUs             uint64 // whole AUs discarded while waiting for a keyframe or for parameter sets
}
