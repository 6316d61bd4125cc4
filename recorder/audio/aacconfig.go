package audio

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// AAC audio object types (ISO/IEC 14496-3 §1.5.1.1) that nvr records:
// those browsers decode from MP4.
const (
	aotAACLC = 2
	aotSBR   = 5  // HE-AAC
	aotPS    = 29 // HE-AAC v2
)

// sampleRates are the rates of samplingFrequencyIndex (ISO/IEC 14496-3
// §1.6.3.4); index 15 means the rate follows in 24 bits.
var sampleRates = [...]int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

// AACConfig is what nvr needs from an AudioSpecificConfig (ISO/IEC 14496-3
// §1.6.2.1).
type AACConfig struct {
	ObjectType  int    // first audioObjectType: 2 (AAC-LC), 5 (HE-AAC) or 29 (HE-AAC v2)
	SampleRate  int    // of the core decoder, Hz
	OutputRate  int    // of the decoded audio: twice SampleRate with SBR, Hz
	Channels    int    // from channelConfiguration (1-6, 8)
	FrameLength int    // samples per access unit at SampleRate: 1024 or 960
	Raw         []byte // the AudioSpecificConfig bytes, as an esds carries them
}

// Codec is the RFC 6381 codec string, e.g. "mp4a.40.2".
func (c AACConfig) Codec() string { return fmt.Sprintf("mp4a.40.%d", c.ObjectType) }

// ParseAACConfig parses an AudioSpecificConfig given as bytes (the hex
// `config` parameter of RFC 3640, decoded).
func ParseAACConfig(b []byte) (AACConfig, error) {
	r := bitReader{b: b}
	c, err := readAACConfig(&r)
	if err != nil {
		return AACConfig{}, err
	}
	c.Raw = append([]byte(nil), b...)
	return c, nil
}

// ParseAACConfigHex parses the hex `config` fmtp parameter of RFC 3640.
func ParseAACConfigHex(s string) (AACConfig, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return AACConfig{}, fmt.Errorf("%w: AAC config %q is not hex", ErrMalformed, truncate(s))
	}
	return ParseAACConfig(b)
}

// readAACConfig reads one AudioSpecificConfig from r, leaving r after its
// last bit (LATM embeds it at any bit offset). Raw is not set.
func readAACConfig(r *bitReader) (AACConfig, error) {
	var c AACConfig
	aot, err := readObjectType(r)
	if err != nil {
		return c, err
	}
	c.ObjectType = aot
	if c.SampleRate, err = readSampleRate(r); err != nil {
		return c, err
	}
	chans, err := r.read(4)
	if err != nil {
		return c, err
	}
	c.OutputRate = c.SampleRate
	core := aot
	if aot == aotSBR || aot == aotPS {
		// Explicit SBR signalling (§1.6.5.2): the extension rate, then
		// the core object type.
		if c.OutputRate, err = readSampleRate(r); err != nil {
			return c, err
		}
		if core, err = readObjectType(r); err != nil {
			return c, err
		}
	}
	if core != aotAACLC {
		return c, fmt.Errorf("%w: AAC object type %d (core %d); nvr records AAC-LC and HE-AAC", ErrUnsupported, aot, core)
	}
	switch chans {
	case 0:
		return c, fmt.Errorf("%w: AAC channel layout in a program_config_element", ErrUnsupported)
	case 1, 2, 3, 4, 5, 6:
		c.Channels = int(chans)
	case 7:
		c.Channels = 8
	default:
		return c, fmt.Errorf("%w: AAC channelConfiguration %d", ErrMalformed, chans)
	}
	// GASpecificConfig (§4.4.1) of AAC-LC.
	frameLengthFlag, err := r.read(1)
	if err != nil {
		return c, err
	}
	c.FrameLength = 1024
	if frameLengthFlag == 1 {
		c.FrameLength = 960
	}
	dependsOnCore, err := r.read(1)
	if err != nil {
		return c, err
	}
	if dependsOnCore == 1 {
		if _, err := r.read(14); err != nil { // coreCoderDelay
			return c, err
		}
	}
	ext, err := r.read(1)
	if err != nil {
		return c, err
	}
	if ext == 1 {
		// AAC-LC has none of the error-resilience fields, only
		// extensionFlag3 (reserved).
		if _, err := r.read(1); err != nil {
			return c, err
		}
	}
	return c, nil
}

func readObjectType(r *bitReader) (int, error) {
	v, err := r.read(5)
	if err != nil {
		return 0, err
	}
	if v == 31 {
		ext, err := r.read(6)
		if err != nil {
			return 0, err
		}
		return 32 + int(ext), nil
	}
	return int(v), nil
}

func readSampleRate(r *bitReader) (int, error) {
	i, err := r.read(4)
	if err != nil {
		return 0, err
	}
	switch {
	case int(i) < len(sampleRates):
		return sampleRates[i], nil
	case i == 15:
		v, err := r.read(24)
		if err != nil {
			return 0, err
		}
		if v < 1000 || v > 96000 {
			return 0, fmt.Errorf("%w: AAC sample rate %d", ErrMalformed, v)
		}
		return int(v), nil
	}
	return 0, fmt.Errorf("%w: AAC samplingFrequencyIndex %d", ErrMalformed, i)
}

// truncate shortens camera-supplied text quoted in an error.
func truncate(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
