package attest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"

	ita "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"google.golang.org/protobuf/encoding/protojson"
)

// PayloadType is the DSSE payload type of an in-toto Statement.
const PayloadType = "application/vnd.in-toto+json"

// Keygen writes a new ed25519 key pair: the private key (PKCS#8 PEM, mode
// 0600) to prefix and the public key (PKIX PEM) to prefix.pub. It refuses to
// replace either file, since losing a signing key cannot be undone.
func Keygen(prefix string) error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	for _, p := range []string{prefix, prefix + ".pub"} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("keygen: %s already exists; not overwriting it", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("keygen: %w", err)
		}
	}
	if err := writeNew(prefix, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600); err != nil {
		return err
	}
	if err := writeNew(prefix+".pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		_ = os.Remove(prefix)
		return err
	}
	return nil
}

// writeNew creates path exclusively (O_EXCL), so a file that appeared since
// the check is still not replaced.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("keygen: %w", err)
	}
	return f.Close()
}

// LoadPrivateKey reads an ed25519 private key written by Keygen.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	der, err := readPEM(path, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: a %T, not an ed25519 key", path, k)
	}
	return priv, nil
}

// LoadPublicKey reads an ed25519 public key written by Keygen.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	der, err := readPEM(path, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: a %T, not an ed25519 key", path, k)
	}
	return pub, nil
}

func readPEM(path, typ string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != typ {
		return nil, fmt.Errorf("%s: no PEM %q block", path, typ)
	}
	return block.Bytes, nil
}

// ed25519SV is the DSSE signer and verifier on crypto/ed25519. The key ID is
// the public key's OpenSSH SHA256 fingerprint (dsse.SHA256KeyID, as
// `ssh-keygen -l` prints it), so a reader can tell which key signed without
// trusting anything but the key it holds.
type ed25519SV struct {
	priv ed25519.PrivateKey // nil when only verifying
	pub  ed25519.PublicKey
}

func (s ed25519SV) Sign(_ context.Context, data []byte) ([]byte, error) {
	if s.priv == nil {
		return nil, errors.New("no private key")
	}
	return ed25519.Sign(s.priv, data), nil
}

func (s ed25519SV) Verify(_ context.Context, data, sig []byte) error {
	if !ed25519.Verify(s.pub, data, sig) {
		return errors.New("ed25519: signature does not match")
	}
	return nil
}

func (s ed25519SV) KeyID() (string, error)   { return dsse.SHA256KeyID(s.pub) }
func (s ed25519SV) Public() crypto.PublicKey { return s.pub }

// Sign wraps a statement in a DSSE envelope signed with key.
func Sign(st *ita.Statement, key ed25519.PrivateKey) (*dsse.Envelope, error) {
	payload, err := protojson.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("statement: %w", err)
	}
	signer, err := dsse.NewEnvelopeSigner(ed25519SV{priv: key, pub: key.Public().(ed25519.PublicKey)})
	if err != nil {
		return nil, err
	}
	return signer.SignPayload(context.Background(), PayloadType, payload)
}

// Marshal signs every statement and writes the envelopes as JSON Lines, the
// attestation file's format.
func Marshal(statements []*ita.Statement, key ed25519.PrivateKey) ([]byte, error) {
	var buf bytes.Buffer
	for _, st := range statements {
		env, err := Sign(st, key)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(env)
		if err != nil {
			return nil, err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

// WriteFile builds, signs and writes a run's attestation to path.
func WriteFile(path string, statements []*ita.Statement, key ed25519.PrivateKey) error {
	b, err := Marshal(statements, key)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
