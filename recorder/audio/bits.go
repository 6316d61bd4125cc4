package audio

import "fmt"

// bitReader reads big-endian bit fields from b; reads past the end fail
// instead of inventing zeros.
type bitReader struct {
	b   []byte
	pos int // bits consumed
}

func (r *bitReader) left() int { return len(r.b)*8 - r.pos }

func (r *bitReader) read(n int) (uint32, error) {
	if n > 32 || n > r.left() {
		return 0, fmt.Errorf("%w: %d bits wanted at bit %d of %d", ErrMalformed, n, r.pos, len(r.b)*8)
	}
	var v uint32
	for i := 0; i < n; i++ {
		bit := r.b[r.pos>>3] >> (7 - r.pos&7) & 1
		v = v<<1 | uint32(bit)
		r.pos++
	}
	return v, nil
}

// copyBits returns bits [from, to) of b packed from the first bit of a new
// slice, zero padded to whole bytes: an AudioSpecificConfig embedded at any
// bit offset of a StreamMuxConfig becomes the bytes an esds carries.
func copyBits(b []byte, from, to int) []byte {
	out := make([]byte, (to-from+7)/8)
	for i := from; i < to; i++ {
		if b[i>>3]>>(7-i&7)&1 != 0 {
			j := i - from
			out[j>>3] |= 1 << (7 - j&7)
		}
	}
	return out
}
