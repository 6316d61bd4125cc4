package passwd

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestHashAndCheck(t *testing.T) {
	h, err := Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") || Validate(h) != nil {
		t.Fatalf("hash %q", h)
	}
	if err := Check("correct horse", h); err != nil {
		t.Fatalf("Check(right) = %v", err)
	}
	if err := Check("correct hors", h); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Check(wrong) = %v", err)
	}
	h2, _ := Hash("correct horse")
	if h2 == h {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	b, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if Validate(string(b)) != nil || Check("s3cret", string(b)) != nil || !errors.Is(Check("nope", string(b)), ErrMismatch) {
		t.Fatal("bcrypt hash not accepted")
	}
	if _, err := Hash(""); err == nil {
		t.Fatal("empty password hashed")
	}
}

func TestValidateBounds(t *testing.T) {
	for _, bad := range []string{
		"", "plain", "$argon2id$v=19$m=65536,t=3,p=2$bad",
		"$argon2id$v=19$m=4194304,t=3,p=2$c29tZXNhbHQ$c29tZWtleQ", // 4 GiB per attempt
		"$argon2id$v=19$m=65536,t=1000,p=2$c29tZXNhbHQ$c29tZWtleQ",
		"$2b$31$" + strings.Repeat("a", 53),
		"$argon2i$v=19$m=65536,t=3,p=2$c29tZXNhbHQ$c29tZWtleQ",
	} {
		if err := Validate(bad); err == nil {
			t.Errorf("Validate(%q) accepted", bad)
		} else if bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("error quotes the hash: %v", err)
		}
	}
}
