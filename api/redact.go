package api

import "regexp"

var (
	// userinfoRE matches the user:password@ part of a URL (RFC 3986 §3.2.1),
	// as camera URLs carry it: rtsp://admin:secret@10.0.0.5/...
	userinfoRE = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s@]*@`)
	// secretParamRE matches query parameters that vendors use for
	// credentials (Dahua/Amcrest ?password=, Hikvision ?auth=, go2rtc
	// #238, mediamtx #6110).
	secretParamRE = regexp.MustCompile(`(?i)([?&;](?:password|passwd|pass|pwd|pw|user|username|usr|token|auth|key|secret|sign|signature)=)[^&;#\s"']*`)
)

// redactSecrets removes credentials from text that may contain camera URLs,
// before it is shown in the API or logged (RELIABILITY S3).
func redactSecrets(s string) string {
	s = userinfoRE.ReplaceAllString(s, "${1}REDACTED@")
	return secretParamRE.ReplaceAllString(s, "${1}REDACTED")
}
