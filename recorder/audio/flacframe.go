package audio

import (
	"encoding/binary"
	"math/bits"
	"slices"
)

// A FLAC frame writer for 16-bit PCM (RFC 9639 §9): fixed blocking,
// independent channels, and per subframe a constant, a verbatim or a
// fixed-predictor (orders 0-4) subframe with one Rice partition. That is
// what 8 kHz G.711 needs: the measured cost of a general encoder (mewkiz/flac, 2.8 ms of CPU per second of audio, more
// than the whole video ingest of a camera) is what made nvr write its own;
// docs/audio.md has the figures.

// bitWriter appends bits to b, most significant first.
type bitWriter struct {
	b    []byte
	acc  uint64
	nacc uint // bits in acc
}

func (w *bitWriter) write(v uint32, n uint) {
	if n == 0 {
		return
	}
	w.acc = w.acc<<n | uint64(v)&(1<<n-1)
	w.nacc += n
	if w.nacc >= 32 {
		// Four bytes at a time: acc never holds more than 31+32 bits.
		w.nacc -= 32
		x := uint32(w.acc >> w.nacc)
		w.b = append(w.b, byte(x>>24), byte(x>>16), byte(x>>8), byte(x))
	}
}

// flushBytes moves the whole bytes still in acc to b.
func (w *bitWriter) flushBytes() {
	for w.nacc >= 8 {
		w.nacc -= 8
		w.b = append(w.b, byte(w.acc>>w.nacc))
	}
}

// unary writes q zero bits and a one (Rice quotient, §9.2.7.2).
func (w *bitWriter) unary(q uint32) {
	for q >= 32 {
		w.write(0, 32)
		q -= 32
	}
	w.write(1, uint(q)+1)
}

// align pads with zero bits to a byte boundary.
func (w *bitWriter) align() {
	w.flushBytes()
	if w.nacc > 0 {
		w.write(0, 8-w.nacc)
		w.flushBytes()
	}
}

// CRC-8 (x^8+x^2+x+1) of the frame header and CRC-16 (x^16+x^15+x^2+1)
// of the whole frame (§9.1.8, §9.3), both initialised to 0.
var crc8Table, crc16Table = func() (t8 [256]uint8, t16 [256]uint16) {
	for i := range 256 {
		c8 := uint8(i)
		for range 8 {
			if c8&0x80 != 0 {
				c8 = c8<<1 ^ 0x07
			} else {
				c8 <<= 1
			}
		}
		t8[i] = c8
		c16 := uint16(i) << 8
		for range 8 {
			if c16&0x8000 != 0 {
				c16 = c16<<1 ^ 0x8005
			} else {
				c16 <<= 1
			}
		}
		t16[i] = c16
	}
	return
}()

func crc8(b []byte) uint8 {
	var c uint8
	for _, v := range b {
		c = crc8Table[c^v]
	}
	return c
}

// crc16Slices[k][x] is the CRC-16 register after byte x and then k zero
// bytes, from a zero register: crc16 takes eight bytes a step with them
// ("slicing by 8"), since byte by byte the CRC was a quarter of the cost of
// turning G.711 into FLAC. The register is XORed into the step's first two
// bytes (a CRC is linear, and those are the bytes it lines up with).
var crc16Slices = func() (t [8][256]uint16) {
	t[0] = crc16Table
	for k := 1; k < 8; k++ {
		for x := range 256 {
			p := t[k-1][x]
			t[k][x] = p<<8 ^ crc16Table[byte(p>>8)]
		}
	}
	return
}()

func crc16(b []byte) uint16 {
	var c uint16
	for len(b) >= 8 {
		t := &crc16Slices
		c = t[7][b[0]^byte(c>>8)] ^ t[6][b[1]^byte(c)] ^ t[5][b[2]] ^ t[4][b[3]] ^
			t[3][b[4]] ^ t[2][b[5]] ^ t[1][b[6]] ^ t[0][b[7]]
		b = b[8:]
	}
	for _, v := range b {
		c = c<<8 ^ crc16Table[byte(c>>8)^v]
	}
	return c
}

// sampleRateCode is the frame header's code for a rate, 0 ("as in
// STREAMINFO") for the others (§9.1.2).
func sampleRateCode(rate int) uint32 {
	switch rate {
	case 8000:
		return 4
	case 16000:
		return 5
	case 22050:
		return 6
	case 24000:
		return 7
	case 32000:
		return 8
	case 44100:
		return 9
	case 48000:
		return 10
	case 96000:
		return 11
	}
	return 0
}

// flacFrame encodes one block of channels×n interleaved samples as frame
// number num, appending to out. scratch holds one channel's residuals.
func flacFrame(out []byte, pcm []int16, channels, n int, rate int, num uint64, scratch []int32) []byte {
	w := bitWriter{b: out}
	start := len(out)
	w.write(0xfff8>>2, 14) // sync code (§9.1)
	w.write(0, 1)          // reserved
	w.write(0, 1)          // fixed block size
	bsCode, bsExtra := uint32(6), uint(8)
	if n > 256 {
		bsCode, bsExtra = 7, 16
	}
	w.write(bsCode, 4)
	w.write(sampleRateCode(rate), 4)
	w.write(uint32(channels-1), 4) // independent channels
	w.write(4, 3)                  // 16 bits per sample
	w.write(0, 1)
	writeUTF8(&w, num)
	w.write(uint32(n-1), bsExtra)
	w.flushBytes() // the header is whole bytes
	w.b = append(w.b, crc8(w.b[start:]))

	ch := scratch[:n]
	for c := 0; c < channels; c++ {
		if channels == 1 {
			for i, v := range pcm[:n] {
				ch[i] = int32(v)
			}
		} else {
			for i := range ch {
				ch[i] = int32(pcm[i*channels+c])
			}
		}
		subframe(&w, ch, scratch[n:2*n])
	}
	w.align()
	crc := crc16(w.b[start:])
	return append(w.b, byte(crc>>8), byte(crc))
}

// writeUTF8 writes the frame number coded as in UTF-8, extended to 36
// bits (§9.1.5).
func writeUTF8(w *bitWriter, v uint64) {
	if v < 0x80 {
		w.write(uint32(v), 8)
		return
	}
	n := 2 // bytes
	for v >= 1<<(5*n+1) && n < 7 {
		n++
	}
	first := uint32(0xff00>>n) & 0xff
	w.write(first|uint32(v>>(6*(n-1))), 8)
	for i := n - 2; i >= 0; i-- {
		w.write(0x80|uint32(v>>(6*i))&0x3f, 8)
	}
}

// subframe writes a subframe for samples x; res is scratch of len(x). A
// constant block is a constant subframe; otherwise a fixed-predictor
// subframe whose order and Rice parameter are chosen from every fourth
// sample (analyze), falling back to verbatim when that came out larger.
// Choosing from a sample of the block costs under 2 % of size against
// trying every order on every sample, and takes a quarter to a third off
// the encoder's CPU (docs/audio.md, "CPU").
func subframe(w *bitWriter, x, res []int32) {
	n := len(x)
	constant := true
	for _, v := range x[1:] {
		if v != x[0] {
			constant = false
			break
		}
	}
	if constant {
		w.write(0, 8) // padding bit, type 000000, no wasted bits
		w.write(uint32(x[0]), 16)
		return
	}
	order, k := analyze(x)
	mark := w.mark()
	w.write(uint32(0x08|order)<<1, 8) // fixed, type 001xxx
	for _, v := range x[:order] {
		w.write(uint32(v), 16)
	}
	w.write(0, 2) // Rice with 4-bit parameters
	w.write(0, 4) // partition order 0
	w.write(uint32(k), 4)
	fixedResiduals(x, order, res[:n-order])
	w.riceAll(res[:n-order], uint(k))
	if w.since(mark) > 8+16*n {
		w.rewind(mark)
		w.write(1<<1, 8) // verbatim, type 000001
		for _, v := range x {
			w.write(uint32(v), 16)
		}
	}
}

// writerMark is a bitWriter's state, to undo what was written after it.
type writerMark struct {
	n    int
	acc  uint64
	nacc uint
}

func (w *bitWriter) mark() writerMark { return writerMark{len(w.b), w.acc, w.nacc} }

// since returns the number of bits written after m.
func (w *bitWriter) since(m writerMark) int {
	return (len(w.b)-m.n)*8 + int(w.nacc) - int(m.nacc)
}

// rewind forgets what was written after m.
func (w *bitWriter) rewind(m writerMark) { w.b, w.acc, w.nacc = w.b[:m.n], m.acc, m.nacc }

// riceAll writes the residuals res as Rice codes with parameter k
// (§9.2.7.2): each one's quotient in unary (zeros, then a one) and its k low
// bits, with the bit accumulator kept in locals.
func (w *bitWriter) riceAll(res []int32, k uint) {
	// A code of at most 32 bits adds at most 4 bytes: room for all of them
	// first, so the loop stores without append's checks.
	w.b = slices.Grow(w.b, 4*len(res))
	b, pos, acc, nacc := w.b[:cap(w.b)], len(w.b), w.acc, w.nacc
	low := uint32(1)<<k - 1
	for _, r := range res {
		u := zigzag(r)
		q := uint(u >> k)
		n := q + 1 + k
		if n > 32 {
			w.b, w.acc, w.nacc = b[:pos], acc, nacc
			w.unary(uint32(q))
			w.write(u, k)
			w.b = slices.Grow(w.b, 4*len(res))
			b, pos, acc, nacc = w.b[:cap(w.b)], len(w.b), w.acc, w.nacc
			continue
		}
		acc = acc<<n | uint64(1<<k|u&low)
		nacc += n
		if nacc >= 32 {
			nacc -= 32
			binary.BigEndian.PutUint32(b[pos:], uint32(acc>>nacc))
			pos += 4
		}
	}
	w.b, w.acc, w.nacc = b[:pos], acc, nacc
}

func zigzag(r int32) uint32 { return uint32(r<<1) ^ uint32(r>>31) }

// analyzeStride is the spacing of the samples analyze looks at.
const analyzeStride = 4

// analyze picks the fixed predictor order (0-4, §9.2.5) and the Rice
// parameter for x from the residuals at every analyzeStride-th sample:
// the order with the smallest sum of absolute residuals there, and the
// parameter that codes residuals of that mean size in the fewest bits.
func analyze(x []int32) (order int, k uint32) {
	n := len(x)
	if n <= 4 {
		return 0, 0
	}
	var sum [5]uint64
	points := 0
	for i := 4; i < n; i += analyzeStride {
		p := x[i-4 : i+1 : i+1]
		a, b, c, d, e := p[4], p[3], p[2], p[1], p[0]
		sum[0] += uint64(abs32(a))
		sum[1] += uint64(abs32(a - b))
		sum[2] += uint64(abs32(a - 2*b + c))
		sum[3] += uint64(abs32(a - 3*b + 3*c - d))
		sum[4] += uint64(abs32(a - 4*b + 6*c - 4*d + e))
		points++
	}
	for o := 1; o < 5; o++ {
		if sum[o] < sum[order] {
			order = o
		}
	}
	// A residual r has the zigzag code about 2|r|; the Rice code of u
	// with parameter k takes 1 + k + u>>k bits, so over m residuals of
	// code sum U about m(1+k) + U/2^k: try the neighbours of log2 of the
	// mean.
	m := uint64(n - order)
	u := 2 * sum[order] * m / uint64(points)
	est := uint32(0)
	if u > m {
		est = uint32(bits.Len64(u/m)) - 1
	}
	// The parameter is 4 bits and 15 is the escape code.
	lo, hi := min(max(int(est)-1, 0), 14), min(int(est)+1, 14)
	best := uint64(0)
	for c := lo; c <= hi; c++ {
		cost := m*uint64(1+c) + u>>c
		if c == lo || cost < best {
			k, best = uint32(c), cost
		}
	}
	return order, k
}

// abs32 is |v| without a branch (residual signs are random: a branch on
// them is mispredicted half the time).
func abs32(v int32) uint32 {
	m := v >> 31
	return uint32((v ^ m) - m)
}

// fixedResiduals writes the residuals of x after the first order samples.
func fixedResiduals(x []int32, order int, res []int32) {
	res = res[:len(x)-order]
	switch order {
	case 0:
		copy(res, x)
	case 1:
		for i := range res {
			res[i] = x[i+1] - x[i]
		}
	case 2:
		for i := range res {
			res[i] = x[i+2] - 2*x[i+1] + x[i]
		}
	case 3:
		for i := range res {
			res[i] = x[i+3] - 3*x[i+2] + 3*x[i+1] - x[i]
		}
	case 4:
		for i := range res {
			res[i] = x[i+4] - 4*x[i+3] + 6*x[i+2] - 4*x[i+1] + x[i]
		}
	}
}
