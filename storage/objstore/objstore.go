// Package objstore is nvr's client of an S3-compatible bucket (issue 13):
// put a segment once (never overwriting an object), read byte ranges of it,
// and delete it. It wraps minio-go, whose client speaks the S3 API of AWS,
// MinIO, SeaweedFS, Ceph RGW and Garage; why minio-go and not the AWS SDK is
// in docs/scale-out.md.
//
// Credentials come from the environment only (S3_ACCESS_KEY_ID and
// S3_SECRET_ACCESS_KEY, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY);
// they are never part of Config, so they cannot reach a log, an error or an
// API response through it, and errors returned here pass through
// internal/redact.
package objstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/nvr-project/nvr/internal/redact"
)

// Environment variables holding the credentials (the S3_ pair first).
const (
	EnvAccessKey    = "S3_ACCESS_KEY_ID"
	EnvSecretKey    = "S3_SECRET_ACCESS_KEY"
	EnvAWSAccessKey = "AWS_ACCESS_KEY_ID"
	EnvAWSSecretKey = "AWS_SECRET_ACCESS_KEY"
)

const (
	// OpTimeout bounds one request other than an upload's body (HEAD,
	// DELETE, a ranged GET).
	OpTimeout = 30 * time.Second
	// partSize keeps segments (tens of MB) in a single PUT, where the
	// conditional header and Content-MD5 apply to the whole object.
	partSize = 512 << 20
	// metaSHA256 is the user metadata key holding the hex SHA-256 of the
	// object's bytes, so an object found in place can be verified.
	metaSHA256 = "Nvr-Sha256"
)

// ErrExists is returned by Put when an object with the key exists and holds
// other bytes than the ones being put.
var ErrExists = errors.New("objstore: object exists with other content")

// Config names a bucket. It holds no credentials.
type Config struct {
	Endpoint string // host:port, or a URL whose scheme sets TLS
	Bucket   string
	Prefix   string // prepended to every key (e.g. "site-a/")
	Region   string
	TLS      bool // https (an https:// endpoint sets it too)
	// Transport, if set, replaces the HTTP transport (tests, custom CAs).
	Transport http.RoundTripper
}

// Client is one bucket. It is safe for concurrent use.
type Client struct {
	c      *minio.Client
	bucket string
	prefix string
	region string
	// scrub removes the keys (and anything credential-like) from text
	// that goes into an error.
	scrub func(string) string
}

// CredentialsFromEnv returns the access key pair from the environment.
func CredentialsFromEnv() (access, secret string, err error) {
	access, secret = os.Getenv(EnvAccessKey), os.Getenv(EnvSecretKey)
	if access == "" && secret == "" {
		access, secret = os.Getenv(EnvAWSAccessKey), os.Getenv(EnvAWSSecretKey)
	}
	if access == "" || secret == "" {
		return "", "", fmt.Errorf("objstore: credentials: set %s and %s (or %s and %s)", EnvAccessKey, EnvSecretKey, EnvAWSAccessKey, EnvAWSSecretKey)
	}
	return access, secret, nil
}

// New returns a client of cfg's bucket with the credentials from the
// environment. It does not contact the server.
func New(cfg Config) (*Client, error) {
	access, secret, err := CredentialsFromEnv()
	if err != nil {
		return nil, err
	}
	return NewWithKeys(cfg, access, secret)
}

// NewWithKeys is New with explicit keys (tests).
func NewWithKeys(cfg Config, access, secret string) (*Client, error) {
	ep, secure := cfg.Endpoint, cfg.TLS
	switch {
	case strings.HasPrefix(ep, "https://"):
		ep, secure = strings.TrimPrefix(ep, "https://"), true
	case strings.HasPrefix(ep, "http://"):
		ep = strings.TrimPrefix(ep, "http://")
	}
	ep = strings.TrimSuffix(ep, "/")
	if ep == "" || cfg.Bucket == "" {
		return nil, errors.New("objstore: endpoint and bucket are required")
	}
	c, err := minio.New(ep, &minio.Options{
		Creds:     credentials.NewStaticV4(access, secret, ""),
		Secure:    secure,
		Region:    cfg.Region,
		Transport: cfg.Transport,
	})
	scrub := redact.Scrubber(access, secret)
	if err != nil {
		return nil, fmt.Errorf("objstore: %s: %s", scrub(ep), scrub(err.Error()))
	}
	return &Client{c: c, bucket: cfg.Bucket, prefix: cfg.Prefix, region: cfg.Region, scrub: scrub}, nil
}

// Key is the object key of a segment at relative path p.
func (c *Client) Key(p string) string { return c.prefix + p }

// String names the bucket for logs and errors.
func (c *Client) String() string { return c.c.EndpointURL().Host + "/" + c.bucket }

// wrap gives err context and strips anything credential-like from it.
func (c *Client) wrap(op, key string, err error) error {
	return fmt.Errorf("objstore: %s %s/%s: %s", op, c.String(), key, c.scrub(err.Error()))
}

// CheckBucket says whether the bucket answers with these keys, for nvr
// check; it creates nothing. A bucket that does not exist yet is no
// problem (nvr serve creates it) and is reported as ok.
func (c *Client) CheckBucket(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, OpTimeout)
	defer cancel()
	if _, err := c.c.BucketExists(ctx, c.bucket); err != nil {
		return c.wrap("bucket exists", "", err)
	}
	return nil
}

// EnsureBucket creates the bucket if it does not exist.
func (c *Client) EnsureBucket(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, OpTimeout)
	defer cancel()
	ok, err := c.c.BucketExists(ctx, c.bucket)
	if err != nil {
		return c.wrap("bucket exists", "", err)
	}
	if ok {
		return nil
	}
	if err := c.c.MakeBucket(ctx, c.bucket, minio.MakeBucketOptions{Region: c.region}); err != nil {
		return c.wrap("make bucket", "", err)
	}
	return nil
}

// Put uploads size bytes from r (whose SHA-256 is sum) under key, unless the
// object is there already. An object already holding exactly these bytes
// (a retried upload after a crash) counts as success; one holding other
// bytes is ErrExists and is left alone. The upload is sent with Content-MD5
// (the server refuses a body that arrived damaged), conditional on no object
// existing (If-None-Match: *), and checked afterwards by size and digest.
func (c *Client) Put(ctx context.Context, key string, r io.Reader, size int64, sum [sha256.Size]byte) error {
	want := hex.EncodeToString(sum[:])
	if same, err := c.holds(ctx, key, size, want); err != nil {
		return err
	} else if same {
		return nil
	}
	opts := minio.PutObjectOptions{
		ContentType:    "video/mp4",
		SendContentMd5: true,
		PartSize:       partSize,
		UserMetadata:   map[string]string{metaSHA256: want},
	}
	opts.SetMatchETagExcept("*")
	info, err := c.c.PutObject(ctx, c.bucket, key, r, size, opts)
	if err != nil {
		resp := minio.ToErrorResponse(err)
		if resp.StatusCode == http.StatusPreconditionFailed || resp.Code == "PreconditionFailed" {
			// Someone else's object, or ours from a concurrent attempt.
			if same, herr := c.holds(ctx, key, size, want); herr == nil && same {
				return nil
			}
			return fmt.Errorf("%w: %s", ErrExists, key)
		}
		return c.wrap("put", key, err)
	}
	if info.Size != size {
		return fmt.Errorf("objstore: put %s: server stored %d bytes, want %d", key, info.Size, size)
	}
	same, err := c.holds(ctx, key, size, want)
	if err != nil {
		return err
	}
	if !same {
		return fmt.Errorf("objstore: put %s: the object read back differs from the segment", key)
	}
	return nil
}

// holds reports whether key exists with this size and SHA-256 metadata. An
// object with the key but other content is ErrExists.
func (c *Client) holds(ctx context.Context, key string, size int64, sum string) (bool, error) {
	st, err := c.Stat(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if st.Size != size || !strings.EqualFold(st.SHA256, sum) {
		return false, fmt.Errorf("%w: %s (%d bytes, sha256 %q)", ErrExists, key, st.Size, st.SHA256)
	}
	return true, nil
}

// ErrNotFound: no object with the key.
var ErrNotFound = errors.New("objstore: no such object")

// Info is what HEAD says about an object.
type Info struct {
	Size   int64
	SHA256 string // from nvr's metadata; empty for objects nvr did not put
}

// Stat HEADs key.
func (c *Client) Stat(ctx context.Context, key string) (Info, error) {
	ctx, cancel := context.WithTimeout(ctx, OpTimeout)
	defer cancel()
	st, err := c.c.StatObject(ctx, c.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		resp := minio.ToErrorResponse(err)
		if resp.StatusCode == http.StatusNotFound || resp.Code == "NoSuchKey" {
			return Info{}, fmt.Errorf("%w: %s", ErrNotFound, key)
		}
		return Info{}, c.wrap("stat", key, err)
	}
	sum := st.UserMetadata[metaSHA256]
	if sum == "" {
		sum = st.Metadata.Get("X-Amz-Meta-" + metaSHA256)
	}
	return Info{Size: st.Size, SHA256: sum}, nil
}

// Delete removes key; a missing object is not an error (S3 semantics).
func (c *Client) Delete(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, OpTimeout)
	defer cancel()
	if err := c.c.RemoveObject(ctx, c.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		resp := minio.ToErrorResponse(err)
		if resp.StatusCode == http.StatusNotFound || resp.Code == "NoSuchKey" {
			return nil
		}
		return c.wrap("delete", key, err)
	}
	return nil
}

// ReadAt reads len(p) bytes at off of key with one ranged GET, bounded by
// OpTimeout and ctx. It follows io.ReaderAt: fewer bytes only with an error
// (io.EOF at the object's end).
func (c *Client) ReadAt(ctx context.Context, key string, p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if off < 0 {
		return 0, fmt.Errorf("objstore: read %s: negative offset", key)
	}
	ctx, cancel := context.WithTimeout(ctx, OpTimeout)
	defer cancel()
	var opts minio.GetObjectOptions
	if err := opts.SetRange(off, off+int64(len(p))-1); err != nil {
		return 0, c.wrap("get", key, err)
	}
	body, _, _, err := (&minio.Core{Client: c.c}).GetObject(ctx, c.bucket, key, opts)
	if err != nil {
		return 0, c.readErr(key, err)
	}
	defer body.Close()
	// The range bounds what is read: never more than len(p).
	n, err := io.ReadFull(body, p)
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return n, io.EOF
	}
	return n, c.readErr(key, err)
}

func (c *Client) readErr(key string, err error) error {
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.Code == "NoSuchKey":
		return fmt.Errorf("%w: %s", ErrNotFound, key)
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable || resp.Code == "InvalidRange":
		return io.EOF
	}
	return c.wrap("get", key, err)
}
