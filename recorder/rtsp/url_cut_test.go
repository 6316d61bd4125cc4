package rtsp

import (
	"strings"
	"testing"
)

// A password typed with '#', '?' or '/' as is would make net/url take part
// of it for the host (rtsp://admin:S3cr@t#1@127.0.0.1/ goes to host "t"):
// such a URL is refused, naming the character and never the password.
func TestUserinfoCut(t *testing.T) {
	cases := []struct {
		url string
		cut byte
	}{
		{"rtsp://admin:S3cr@t#1@127.0.0.1:18810/cam", '#'},
		{"rtsp://admin:p@ss#w0rd@192.0.2.1/x", '#'},
		{"rtsp://admin:pa/ss@192.0.2.1/x", '/'},
		{"rtsp://admin:12/34@192.0.2.1/x", '/'},
		{"rtsps://admin:pa?ss@192.0.2.1:7441/x", '?'},
		{"rtsp://admin:p%23ss@192.0.2.1/x", 0},
		{"rtsp://admin:p@ss@192.0.2.1/x", 0}, // the last '@' ends the user-info; net/url agrees
		{"rtsp://192.0.2.1/x?channel=1", 0},
		{"rtsp://192.0.2.1", 0},
		{"no url", 0},
	}
	for _, tc := range cases {
		c, cut := UserinfoCut(tc.url)
		if cut != (tc.cut != 0) || c != tc.cut {
			t.Errorf("UserinfoCut(%q) = %q, %v; want %q", tc.url, c, cut, tc.cut)
		}
		err := Config{URL: tc.url}.Validate()
		if tc.cut == 0 {
			continue
		}
		if err == nil {
			t.Errorf("Validate(%q): no error", tc.url)
			continue
		}
		if !strings.Contains(err.Error(), "%23") || !strings.Contains(err.Error(), "unescaped '"+string(tc.cut)+"'") {
			t.Errorf("Validate(%q) = %q: no hint naming the character", tc.url, err)
		}
		for _, secret := range []string{"S3cr", "w0rd", "pa/ss", "12/34", "pa?ss"} {
			if strings.Contains(tc.url, secret) && strings.Contains(err.Error(), secret) {
				t.Errorf("Validate(%q) = %q shows the password", tc.url, err)
			}
		}
	}
}
