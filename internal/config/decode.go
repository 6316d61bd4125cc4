package config

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/nvr-project/nvr/internal/redact"
)

// Bounds on decoding.
const (
	// maxNodes bounds the YAML nodes walked. Aliases let a small file name a
	// node many times over ("billion laughs"); a real config has a few
	// thousand nodes at most.
	maxNodes = 100_000
	// maxValueLen bounds one value after ${ENV} expansion, so that a file of
	// many references to a large variable cannot blow up memory.
	maxValueLen = 64 << 10
	// maxMergeDepth bounds merge keys within merged mappings; one or two
	// levels is what people write.
	maxMergeDepth = 10
	// maxVarNameLen bounds the name inside ${...}.
	maxVarNameLen = 256
)

var (
	durationType = reflect.TypeOf(Duration(0))
	sizeType     = reflect.TypeOf(Size(0))
)

// decoder walks a yaml.Node tree into a Config by hand rather than with
// yaml's own decoder, so that every problem is collected (not just the first)
// with its field path and line, unknown keys are reported per field, and
// ${ENV} is expanded in values after parsing (a password with ": " or "#" in
// it cannot break the YAML).
type decoder struct {
	lookup   func(string) (string, bool)
	lines    map[string]int
	problems []Problem
	secrets  []string
	budget   int

	mergeTooDeep bool
}

func newDecoder(lookup func(string) (string, bool)) *decoder {
	return &decoder{lookup: lookup, lines: map[string]int{}, budget: maxNodes}
}

func reflectValue(cfg *Config) reflect.Value { return reflect.ValueOf(cfg).Elem() }

func (d *decoder) bad(n *yaml.Node, path, format string, args ...any) {
	if len(d.problems) >= maxProblems {
		return
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	d.problems = append(d.problems, Problem{Line: line, Field: path, Msg: fmt.Sprintf(format, args...)})
}

// deref follows aliases (bounded: yaml.v3 never builds alias cycles, but a
// long chain is still cut short).
func (d *decoder) deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	d.budget--
	if d.budget < 0 {
		return
	}
	n = d.deref(n)
	if n == nil || n.Kind == yaml.AliasNode {
		d.bad(nil, path, "unresolvable alias")
		return
	}
	if path != "" {
		if _, ok := d.lines[path]; !ok {
			d.lines[path] = n.Line
		}
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // "key:" with no value: leave the zero value (default)
	}
	switch {
	case v.Type() == durationType:
		if s, ok := d.scalar(n, path); ok {
			dur, err := parseDuration(s)
			if err != nil {
				d.bad(n, path, "%v", err)
				return
			}
			v.SetInt(int64(dur))
		}
		return
	case v.Type() == sizeType:
		if s, ok := d.scalar(n, path); ok {
			sz, err := parseSize(s)
			if err != nil {
				d.bad(n, path, "%v", err)
				return
			}
			v.SetInt(int64(sz))
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		d.decode(n, p.Elem(), path)
		v.Set(p)
	case reflect.String:
		if s, ok := d.scalar(n, path); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		if s, ok := d.scalar(n, path); ok {
			switch strings.ToLower(s) {
			case "true":
				v.SetBool(true)
			case "false":
				v.SetBool(false)
			default:
				d.bad(n, path, "expected true or false")
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.bad(n, path, "expected a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Struct:
		d.mapping(n, v, path)
	default:
		d.bad(n, path, "internal error: cannot decode into %v", v.Type())
	}
}

// scalar returns n's value with ${ENV} expanded.
func (d *decoder) scalar(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.bad(n, path, "expected a single value, got %s", kindName(n))
		return "", false
	}
	s, used, err := expand(n.Value, d.lookup)
	if err != nil {
		d.bad(n, path, "%v", err)
		return "", false
	}
	// ${ENV} exists so that passwords need not sit in the file: whatever it
	// expands to is kept out of error messages, whichever field it lands in.
	if used {
		d.secrets = append(d.secrets, s)
	}
	// A URL with a password pasted into any field (say, "id") must not be
	// echoed either.
	if strings.Contains(s, "@") {
		d.secrets = append(d.secrets, redact.Secrets(s)...)
	}
	return s, true
}

// mapping decodes a YAML mapping into a struct, by yaml tag names. Merge
// keys ("<<: *defaults") are honoured, explicit keys winning.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.bad(n, path, "expected a mapping of keys to values, got %s", kindName(n))
		return
	}
	fields := map[string]int{}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = i
	}
	// Merged mappings first, so that explicit keys override them.
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			d.merge(n.Content[i+1], v, path, fields, 0)
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.bad(k, path, "keys must be plain names")
			continue
		}
		fp := joinPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.bad(k, fp, "duplicate key %q (first at line %d)", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		idx, ok := fields[k.Value]
		if !ok {
			d.bad(k, fp, "unknown key %q%s", k.Value, suggest(k.Value, fields))
			continue
		}
		d.lines[fp] = k.Line
		d.decode(val, v.Field(idx), fp)
	}
}

func (d *decoder) merge(n *yaml.Node, v reflect.Value, path string, fields map[string]int, depth int) {
	// Merges fan out like aliases do ("<<: [*a, *a, *a]" nested): they spend
	// the same budget.
	d.budget--
	if d.budget < 0 {
		return
	}
	n = d.deref(n)
	if n == nil || depth > maxMergeDepth {
		if !d.mergeTooDeep {
			d.mergeTooDeep = true
			d.bad(nil, path, "merge keys (<<) nested more than %d deep", maxMergeDepth)
		}
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
				d.merge(val, v, path, fields, depth+1)
				continue
			}
			if idx, ok := fields[k.Value]; ok && k.Kind == yaml.ScalarNode {
				fp := joinPath(path, k.Value)
				d.lines[fp] = k.Line
				d.decode(val, v.Field(idx), fp)
			} else {
				d.bad(k, joinPath(path, k.Value), "unknown key %q (merged with <<)%s", k.Value, suggest(k.Value, fields))
			}
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			d.merge(item, v, path, fields, depth)
		}
	default:
		d.bad(n, path, "<< must refer to a mapping")
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// suggest offers a known key that differs only in case, '_' or '-' (a
// common slip: "dataDir" for "data_dir").
func suggest(key string, fields map[string]int) string {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	for name := range fields {
		if norm(name) == norm(key) {
			return fmt.Sprintf(" (did you mean %q?)", name)
		}
	}
	return ""
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	}
	return "something else"
}

// expand replaces ${NAME} with NAME's value from lookup. "$${" stands for a
// literal "${"; any other "$" is kept as is, so passwords with "$" need no
// escaping. An unset variable is an error naming the variable, never its
// value; a variable set to "" expands to "".
func expand(s string, lookup func(string) (string, bool)) (string, bool, error) {
	if !strings.Contains(s, "${") {
		return s, false, nil
	}
	var b strings.Builder
	used := false
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 || end > maxVarNameLen {
				return "", false, fmt.Errorf("unterminated ${ (write $${ for a literal ${)")
			}
			name := s[i+2 : i+2+end]
			if !validVarName(name) {
				return "", false, fmt.Errorf("${...} must hold a variable name made of letters, digits and '_' (write $${ for a literal ${)")
			}
			val, ok := lookup(name)
			if !ok {
				return "", false, fmt.Errorf("environment variable %s is not set", name)
			}
			b.WriteString(val)
			used = true
			i += 3 + end
		default:
			b.WriteByte(s[i])
			i++
		}
		if b.Len() > maxValueLen {
			return "", false, fmt.Errorf("value is longer than %d bytes after expanding ${...}", maxValueLen)
		}
	}
	return b.String(), used, nil
}

func validVarName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
