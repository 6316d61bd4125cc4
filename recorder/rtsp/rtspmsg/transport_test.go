package rtspmsg

import (
	"strings"
	"testing"
)

// transportCases are Transport headers as clients send them in SETUP and
// servers answer; they also seed FuzzTransport. Err is compared as set or
// not (wantErr).
var transportCases = []struct {
	name    string
	in      string
	want    []Transport
	wantErr []bool // per spec; nil: none
	fails   bool   // ParseTransport itself fails
}{
	{"tcp", "RTP/AVP/TCP;unicast;interleaved=0-1",
		[]Transport{{Protocol: "RTP", Profile: "AVP", Lower: "TCP", Delivery: "unicast", Interleaved: [2]int{0, 1}, HasInterleaved: true}}, nil, false},
	{"udp request", "RTP/AVP;unicast;client_port=5000-5001",
		[]Transport{{Protocol: "RTP", Profile: "AVP", Delivery: "unicast", ClientPort: [2]int{5000, 5001}, HasClientPort: true}}, nil, false},
	{"udp reply", "RTP/AVP/UDP;unicast;client_port=5000-5001;server_port=6970-6971;ssrc=1A2B3C4D;source=10.0.0.9;mode=play",
		[]Transport{{Protocol: "RTP", Profile: "AVP", Lower: "UDP", Delivery: "unicast", ClientPort: [2]int{5000, 5001}, HasClientPort: true,
			ServerPort: [2]int{6970, 6971}, HasServerPort: true, SSRC: 0x1A2B3C4D, HasSSRC: true, Source: "10.0.0.9", Mode: "PLAY"}}, nil, false},
	// Hikvision pads ssrc with a leading space.
	{"ssrc padded", "RTP/AVP/TCP;unicast;interleaved=0-1;ssrc= 0000ABCD",
		[]Transport{{Protocol: "RTP", Profile: "AVP", Lower: "TCP", Delivery: "unicast", Interleaved: [2]int{0, 1}, HasInterleaved: true, SSRC: 0xABCD, HasSSRC: true}}, nil, false},
	// A lone value is the RTP half of a pair; the RTCP one follows.
	{"lone values", "RTP/AVP/TCP;interleaved=4;client_port=5000",
		[]Transport{{Protocol: "RTP", Profile: "AVP", Lower: "TCP", Interleaved: [2]int{4, 5}, HasInterleaved: true, ClientPort: [2]int{5000, 5001}, HasClientPort: true}}, nil, false},
	// ... except at the largest value, which has no successor: it stays
	// in range instead of naming channel 256 or port 65536.
	{"lone maximum", "RTP/AVP/TCP;interleaved=255;client_port=65535",
		[]Transport{{Protocol: "RTP", Profile: "AVP", Lower: "TCP", Interleaved: [2]int{255, 255}, HasInterleaved: true, ClientPort: [2]int{65535, 65535}, HasClientPort: true}}, nil, false},
	{"spaces in pair", "RTP/AVP;server_port= 6970 - 6971",
		[]Transport{{Protocol: "RTP", Profile: "AVP", ServerPort: [2]int{6970, 6971}, HasServerPort: true}}, nil, false},
	// Names and the protocol are case-insensitive; values keep their case.
	{"case", "rtp/avp/tcp;UNICAST;Interleaved=2-3;Source=Cam.Local",
		[]Transport{{Protocol: "RTP", Profile: "AVP", Lower: "TCP", Delivery: "unicast", Interleaved: [2]int{2, 3}, HasInterleaved: true, Source: "Cam.Local"}}, nil, false},
	{"alternatives", "RTP/AVP;multicast;client_port=5000-5001, RTP/AVP/TCP;interleaved=2-3",
		[]Transport{
			{Protocol: "RTP", Profile: "AVP", Delivery: "multicast", ClientPort: [2]int{5000, 5001}, HasClientPort: true},
			{Protocol: "RTP", Profile: "AVP", Lower: "TCP", Interleaved: [2]int{2, 3}, HasInterleaved: true}}, nil, false},
	// A quoted mode list does not split the header (RFC 7826 §18.54).
	{"quoted mode", `RTP/AVP/TCP;mode="PLAY,RECORD";interleaved=0-1,RTP/AVP;client_port=5000`,
		[]Transport{
			{Protocol: "RTP", Profile: "AVP", Lower: "TCP", Mode: "PLAY,RECORD", Interleaved: [2]int{0, 1}, HasInterleaved: true},
			{Protocol: "RTP", Profile: "AVP", ClientPort: [2]int{5000, 5001}, HasClientPort: true}}, nil, false},
	// Broken parameters are left out and named in Err; the rest counts.
	{"bad channels", "RTP/AVP/TCP;interleaved=999-1000",
		[]Transport{{Protocol: "RTP", Profile: "AVP", Lower: "TCP"}}, []bool{true}, false},
	{"bad ssrc", "RTP/AVP/TCP;interleaved=0;ssrc=zz",
		[]Transport{{Protocol: "RTP", Profile: "AVP", Lower: "TCP", Interleaved: [2]int{0, 1}, HasInterleaved: true}}, []bool{true}, false},
	{"letters", "RTP/AVP;client_port=a-b", []Transport{{Protocol: "RTP", Profile: "AVP"}}, []bool{true}, false},
	{"signed", "RTP/AVP;client_port=+5000", []Transport{{Protocol: "RTP", Profile: "AVP"}}, []bool{true}, false},
	{"port too big", "RTP/AVP;client_port=70000-70001", []Transport{{Protocol: "RTP", Profile: "AVP"}}, []bool{true}, false},
	{"no profile", "RTP;unicast", []Transport{{Delivery: "unicast"}}, []bool{true}, false},
	{"other profile", "RTP/SAVP;unicast", []Transport{{Protocol: "RTP", Profile: "SAVP", Delivery: "unicast"}}, nil, false},
	{"empty", "", nil, nil, true},
	{"commas only", " , ,", nil, nil, true},
}

func TestParseTransport(t *testing.T) {
	for _, tc := range transportCases {
		got, err := ParseTransport(tc.in)
		if (err != nil) != tc.fails {
			t.Errorf("%s: err = %v", tc.name, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: %d specs, want %d: %+v", tc.name, len(got), len(tc.want), got)
			continue
		}
		for i := range got {
			wantErr := tc.wantErr != nil && tc.wantErr[i]
			if (got[i].Err != nil) != wantErr {
				t.Errorf("%s: spec %d: Err = %v", tc.name, i, got[i].Err)
			}
			got[i].Err = nil
			if got[i] != tc.want[i] {
				t.Errorf("%s: spec %d:\n got %+v\nwant %+v", tc.name, i, got[i], tc.want[i])
			}
		}
	}
}

func TestParseTransportBound(t *testing.T) {
	got, err := ParseTransport(strings.Repeat("RTP/AVP/TCP,", MaxTransports+1))
	if err == nil || len(got) != MaxTransports {
		t.Fatalf("%d specs, err %v", len(got), err)
	}
}
