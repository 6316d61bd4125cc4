package config

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as in Go ("90s", "1h30m") or with
// whole days in front ("30d", "1d12h"). A bare number is rejected unless it
// is 0: "60" could mean seconds or minutes.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d as time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes d as a string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads a duration string, for callers that decode with yaml
// directly.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// maxDurationText bounds a duration string; real ones are a few bytes.
const maxDurationText = 64

func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxDurationText {
		return 0, fmt.Errorf("duration is longer than %d characters", maxDurationText)
	}
	if s == "0" {
		return 0, nil
	}
	if s == "" {
		return 0, errors.New("empty duration")
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("duration %q must not be negative", s)
	}
	if strings.Trim(s, "0123456789.") == "" {
		return 0, fmt.Errorf("duration %q has no unit (write e.g. %ss or %sm)", s, s, s)
	}
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseUint(s[:i], 10, 32)
		if err != nil || n > math.MaxInt64/uint64(24*time.Hour) {
			return 0, fmt.Errorf("duration %q: days must be a whole number (e.g. 30d or 1d12h)", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	rest, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q is not valid (write e.g. 90s, 1h30m or 30d)", s)
	}
	if rest < 0 {
		return 0, fmt.Errorf("duration must not be negative")
	}
	if days > math.MaxInt64-rest {
		return 0, fmt.Errorf("duration is too long")
	}
	return days + rest, nil
}

// Size is a number of bytes, written as a number with an optional unit.
// Units are case-insensitive, with an optional space: B; KB, MB, GB, TB, PB
// are decimal (powers of 1000, as disk makers and df -H count); KiB, MiB,
// GiB, TiB, PiB are binary (powers of 1024). A fraction is allowed
// ("1.5TB") and rounded down to whole bytes.
type Size int64

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "pb": 1e15,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "pib": 1 << 50,
}

// maxSizeText bounds a size string; real ones are a few bytes.
const maxSizeText = 64

// String formats s with the largest decimal unit that divides it exactly.
func (s Size) String() string {
	for _, u := range []struct {
		name string
		n    int64
	}{{"PB", 1e15}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}} {
		if s != 0 && int64(s)%u.n == 0 {
			return strconv.FormatInt(int64(s)/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// MarshalYAML writes s as a string.
func (s Size) MarshalYAML() (any, error) { return s.String(), nil }

// UnmarshalYAML reads a size, for callers that decode with yaml directly.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*s = v
	return nil
}

func parseSize(text string) (Size, error) {
	s := strings.TrimSpace(text)
	if len(s) > maxSizeText {
		return 0, fmt.Errorf("size is longer than %d characters", maxSizeText)
	}
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	if num == "" || strings.Count(num, ".") > 1 || num[0] == '.' || num[len(num)-1] == '.' {
		return 0, fmt.Errorf("size %q is not a number with a unit (e.g. 500GB or 5 GiB)", s)
	}
	mult, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit (use B, KB, MB, GB, TB, PB or KiB, MiB, GiB, TiB, PiB)", s)
	}
	r, ok := new(big.Rat).SetString(num) // digits and one dot only: no exponent to blow up
	if !ok {
		return 0, fmt.Errorf("size %q is not a number", s)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	bytes := new(big.Int).Quo(r.Num(), r.Denom())
	if !bytes.IsInt64() {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return Size(bytes.Int64()), nil
}
