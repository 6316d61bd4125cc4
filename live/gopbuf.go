package live

// chunkBytes is the unit in which a stream keeps the bytes of its GOP.
const chunkBytes = 256 << 10

// gopBuf holds the NAL units of the frames since the last keyframe, in
// chunks reused from one keyframe to the next: a stream keeps about its
// longest GOP, and growing never copies what it holds (a doubling slice
// would leave each GOP's old arrays to the GC). Frames handed to the muxer
// make the buffer shared: their chunks are then left to the GC at the next
// keyframe instead of being written over.
type gopBuf struct {
	used   [][]byte // chunks holding the GOP, the last one being filled
	free   [][]byte // chunks to reuse
	nals   [][]byte // the frames' NAL unit slices
	shared bool
}

// add copies nalus (size bytes in all) into the buffer and returns the
// copies. Their bytes are never written again until reset.
func (g *gopBuf) add(nalus [][]byte, size int) [][]byte {
	var dst []byte
	if size > chunkBytes {
		dst = make([]byte, 0, size) // a frame larger than a chunk has its own
	} else {
		if n := len(g.used); n == 0 || cap(g.used[n-1])-len(g.used[n-1]) < size {
			var c []byte
			if k := len(g.free); k > 0 {
				c, g.free[k-1] = g.free[k-1], nil
				g.free = g.free[:k-1]
			} else {
				c = make([]byte, 0, chunkBytes)
			}
			g.used = append(g.used, c)
		}
		cur := &g.used[len(g.used)-1]
		start := len(*cur)
		*cur = (*cur)[:start+size]
		dst = (*cur)[start : start : start+size]
	}
	first := len(g.nals)
	for _, b := range nalus {
		dst = append(dst, b...)
		g.nals = append(g.nals, dst[len(dst)-len(b):len(dst):len(dst)])
	}
	return g.nals[first:len(g.nals):len(g.nals)]
}

// reset empties the buffer for the next GOP.
func (g *gopBuf) reset() {
	if g.shared {
		g.used, g.nals, g.shared = nil, nil, false
		return
	}
	clear(g.nals)
	g.nals = g.nals[:0]
	for _, c := range g.used {
		g.free = append(g.free, c[:0])
	}
	clear(g.used)
	keep := len(g.used) + 1 // what this GOP took, and one more
	g.used = g.used[:0]
	if len(g.free) > keep {
		clear(g.free[keep:])
		g.free = g.free[:keep]
	}
}
