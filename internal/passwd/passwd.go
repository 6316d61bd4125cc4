// Package passwd is the one home of user password hashes: making one for
// `nvr hash-password`, checking that a configured one is well formed and
// affordable, and comparing a password with it at sign-in. The hashing is
// argon2id (RFC 9106) through github.com/alexedwards/argon2id, itself on
// golang.org/x/crypto/argon2; bcrypt hashes, which other tools make, are
// accepted through golang.org/x/crypto/bcrypt.
package passwd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/alexedwards/argon2id"
	"golang.org/x/crypto/bcrypt"
)

// Params of new hashes: RFC 9106 §4's second recommended option (64 MiB,
// three passes), with two lanes for the small machines nvr runs on. About
// 0.1-0.2 s per check on one core.
var Params = &argon2id.Params{Memory: 64 * 1024, Iterations: 3, Parallelism: 2, SaltLength: 16, KeyLength: 32}

// Bounds on a configured hash, so that a hash with absurd parameters cannot
// make each sign-in attempt take gigabytes or minutes.
const (
	MaxMemoryKiB   = 256 * 1024
	MaxIterations  = 10
	MaxParallelism = 16
	MaxBcryptCost  = 14
	// MaxPasswordLen bounds what is hashed; bcrypt itself stops at 72 bytes.
	MaxPasswordLen = 1024
)

// ErrMismatch is a password that does not match its hash.
var ErrMismatch = errors.New("password does not match")

// Hash returns the argon2id hash of password in the PHC string form
// ("$argon2id$v=19$m=65536,t=3,p=2$salt$key").
func Hash(password string) (string, error) {
	if password == "" {
		return "", errors.New("empty password")
	}
	if len(password) > MaxPasswordLen {
		return "", fmt.Errorf("password longer than %d bytes", MaxPasswordLen)
	}
	return argon2id.CreateHash(password, Params)
}

// Validate checks that hash is an argon2id or bcrypt hash within the bounds.
// Its errors never quote the hash.
func Validate(hash string) error {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		p, _, _, err := argon2id.DecodeHash(hash)
		if err != nil {
			return errors.New("is not a valid argon2id hash (make one with nvr hash-password)")
		}
		if p.Memory > MaxMemoryKiB || p.Iterations > MaxIterations || p.Parallelism > MaxParallelism || p.Iterations == 0 || p.Parallelism == 0 {
			return fmt.Errorf("argon2id parameters m=%d,t=%d,p=%d exceed m<=%d, 1<=t<=%d, 1<=p<=%d",
				p.Memory, p.Iterations, p.Parallelism, MaxMemoryKiB, MaxIterations, MaxParallelism)
		}
		return nil
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		cost, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			return errors.New("is not a valid bcrypt hash")
		}
		if cost > MaxBcryptCost {
			return fmt.Errorf("bcrypt cost %d exceeds %d", cost, MaxBcryptCost)
		}
		return nil
	}
	return errors.New(`is not an argon2id ("$argon2id$…") or bcrypt ("$2b$…") hash (make one with nvr hash-password)`)
}

// Check compares password with a hash that passed Validate, in time that
// does not depend on where they differ. It returns ErrMismatch, or another
// error for a hash it cannot use.
func Check(password, hash string) error {
	if len(password) > MaxPasswordLen {
		return ErrMismatch
	}
	if strings.HasPrefix(hash, "$argon2id$") {
		ok, err := argon2id.ComparePasswordAndHash(password, hash)
		switch {
		case err != nil:
			return fmt.Errorf("passwd: %w", err)
		case !ok:
			return ErrMismatch
		}
		return nil
	}
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
	if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		return ErrMismatch
	}
	if err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	return nil
}
