package rtspmsg

import (
	"strings"
	"testing"
)

// FuzzHeaderValues feeds one string to both header-value parsers, as a
// Transport header and as auth-params: neither may panic, and each output
// stays within its bounds and no longer than the input.
func FuzzHeaderValues(f *testing.F) {
	for _, tc := range transportCases {
		f.Add(tc.in)
	}
	for _, tc := range authParamCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		specs, err := ParseTransport(in)
		if len(specs) > MaxTransports || err == nil && len(specs) == 0 {
			t.Fatalf("%d specs, err %v", len(specs), err)
		}
		for _, tr := range specs {
			for _, v := range tr.Interleaved {
				if v < 0 || v > maxChannel {
					t.Fatalf("channel %d", v)
				}
			}
			for _, v := range append(tr.ClientPort[:], tr.ServerPort[:]...) {
				if v < 0 || v > maxPort {
					t.Fatalf("port %d", v)
				}
			}
			if len(tr.Protocol)+len(tr.Profile)+len(tr.Lower)+len(tr.Source)+len(tr.Destination)+len(tr.Mode) > len(in) {
				t.Fatalf("transport longer than the input: %+v", tr)
			}
		}

		params, rest := ParseAuthParams(in)
		if len(params) > MaxAuthParams {
			t.Fatalf("%d params", len(params))
		}
		if !strings.HasSuffix(in, rest) {
			t.Fatalf("rest %q is not the end of the input", rest)
		}
		n := 0
		for k, v := range params {
			n += len(k) + len(v)
		}
		if n > len(in) {
			t.Fatalf("%d bytes of params from %d of input", n, len(in))
		}
	})
}
