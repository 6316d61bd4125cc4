package rtspmsg

import (
	"errors"
	"strings"
	"testing"
)

// An HTML page without a status line (Python's http.server answering a
// request line it cannot parse) is ErrHTTP at once, not junk skipped until
// the page happens to quote "RTSP/1.0".
func TestReaderHTMLPage(t *testing.T) {
	for _, page := range []string{
		"<!DOCTYPE HTML>\n<html><body>Bad request version ('RTSP/1.0')</body></html>\n",
		"<html><head><title>Camera</title></head></html>",
	} {
		_, err := NewReader(strings.NewReader(page)).Next()
		if !errors.Is(err, ErrHTTP) {
			t.Errorf("%.20q: %v, want ErrHTTP", page, err)
		}
	}
	// A '<' that starts no page is skipped as junk, as before.
	it, err := NewReader(strings.NewReader("<x>RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n")).Next()
	if err != nil || it.Msg == nil || it.Msg.Status != 200 {
		t.Errorf("junk before a response: %+v, %v", it, err)
	}
}
