package testcam

import (
	"math"
	"sync"
)

// The audio track (Options.Audio): G.711 µ-law (RFC 3551 §4.5.14, static
// payload type 0, 8 kHz, one channel), silent except for a beep that starts
// at the first sample of each loop of the clip, the instant the clip's first
// frame (frame number 0 of ClipNumbered240) is presented. It is made here,
// in Go, once per clip length, and sent packet by packet with its own RTP
// clock, SSRC and sequence numbers.
const (
	// AudioRate is the audio track's sample rate and RTP clock.
	AudioRate = 8000
	// AudioPacketSamples is one packet's samples: 20 ms, RFC 3551's
	// default packetization interval for G.711.
	AudioPacketSamples = 160
	// BeepHz and BeepSamples are the beep: a 1 kHz tone of 100 ms at
	// half of full scale, from the first sample of each loop.
	BeepHz      = 1000
	BeepSamples = 800
	beepLevel   = 0.5

	audioPayloadType = 0 // PCMU (RFC 3551 Table 4)
	audioControl     = "trackID=1"
	// audioPacket is one packet's duration in 90 kHz units.
	audioPacket90k = AudioPacketSamples * 90000 / AudioRate
)

// audioCache holds each loop length's packets, shared by every session.
var audioCache struct {
	mu      sync.Mutex
	packets map[int][][]byte
}

// audioLoop returns the µ-law payloads of one loop of a clip lasting dur
// (90 kHz units), AudioPacketSamples each. The clips run at 25 fps, so a
// loop is a whole number of 40 ms frames and of 20 ms packets; a partial
// last packet is left out. Shared and read-only.
func audioLoop(dur int64) [][]byte {
	n := int(dur / audioPacket90k)
	audioCache.mu.Lock()
	defer audioCache.mu.Unlock()
	if p := audioCache.packets[n]; p != nil {
		return p
	}
	if audioCache.packets == nil {
		audioCache.packets = make(map[int][][]byte)
	}
	pcm := BeepPCM(n * AudioPacketSamples)
	buf := make([]byte, len(pcm))
	for i, s := range pcm {
		buf[i] = ULaw(s)
	}
	p := make([][]byte, n)
	for i := range p {
		p[i] = buf[i*AudioPacketSamples : (i+1)*AudioPacketSamples : (i+1)*AudioPacketSamples]
	}
	audioCache.packets[n] = p
	return p
}

// BeepPCM returns n samples of one loop's audio as 16-bit PCM: the beep,
// then silence.
func BeepPCM(n int) []int16 {
	pcm := make([]int16, n)
	for i := range min(n, BeepSamples) {
		pcm[i] = int16(math.Round(beepLevel * 32767 * math.Sin(2*math.Pi*BeepHz*float64(i)/AudioRate)))
	}
	return pcm
}

// ULaw encodes one 16-bit sample as G.711 µ-law (ITU-T G.711: bias 132,
// segment and four mantissa bits, all bits inverted).
func ULaw(s int16) byte {
	const bias, clip = 0x84, 32635
	x := int(s)
	sign := 0
	if x < 0 {
		x, sign = -x, 0x80
	}
	x = min(x, clip) + bias
	exp := 7
	for mask := 0x4000; x&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := x >> (exp + 3) & 0x0f
	return ^byte(sign | exp<<4 | mant)
}
