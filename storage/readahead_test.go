package storage

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// countingReader is a remote segment in memory that counts its reads.
type countingReader struct {
	data  []byte
	reads int
	fail  error
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.reads++
	if c.fail != nil {
		return 0, c.fail
	}
	if off >= int64(len(c.data)) {
		return 0, io.EOF
	}
	n := copy(p, c.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
func (c *countingReader) Size() int64  { return int64(len(c.data)) }
func (c *countingReader) Close() error { return nil }

// TestReadAhead: a remote segment read front to back in 32 KiB pieces
// costs one request per MiB, not one per piece; every read returns the
// segment's bytes, ends with io.EOF at its end, and a failed request is
// returned, never served from what was cached before.
func TestReadAhead(t *testing.T) {
	data := make([]byte, 3*readAheadBlock+readAheadBlock/3)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	src := &countingReader{data: data}
	ra := newReadAhead(src)
	var got []byte
	buf := make([]byte, 32<<10)
	for off := int64(0); ; off += int64(len(buf)) {
		n, err := ra.ReadAt(buf, off)
		got = append(got, buf[:n]...)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, not the segment's %d", len(got), len(data))
	}
	if src.reads != 4 {
		t.Errorf("%d requests for %d bytes in 32 KiB reads, want 4 (one a MiB)", src.reads, len(data))
	}
	// Reads anywhere, across blocks and past the end, give the bytes.
	for range 200 {
		off := rng.Int64N(int64(len(data)) + 10)
		p := make([]byte, 1+rng.IntN(300<<10))
		n, err := ra.ReadAt(p, off)
		want := data[min(off, int64(len(data))):min(off+int64(len(p)), int64(len(data)))]
		if !bytes.Equal(p[:n], want) || (n < len(p)) != errors.Is(err, io.EOF) || (err != nil && !errors.Is(err, io.EOF)) {
			t.Fatalf("ReadAt(%d bytes, %d) = %d, %v", len(p), off, n, err)
		}
	}
	// Big reads go straight through.
	before := src.reads
	if n, err := ra.ReadAt(make([]byte, readAheadBlock), 0); n != readAheadBlock || err != nil || src.reads != before+1 {
		t.Errorf("a block-sized read: %d, %v, %d requests", n, err, src.reads-before)
	}
	// A failure is the caller's, and not covered by an older block.
	src.fail = errors.New("peer went away")
	if _, err := ra.ReadAt(buf, 2*readAheadBlock+readAheadBlock/2); !errors.Is(err, src.fail) {
		t.Errorf("read after the failure: %v", err)
	}
	if _, err := ra.ReadAt(buf, 10); !errors.Is(err, src.fail) {
		t.Errorf("read of an earlier block after the failure: %v", err)
	}
}
