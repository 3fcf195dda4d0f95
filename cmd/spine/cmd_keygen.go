package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spinehq/spine/artifacts"
	"github.com/spinehq/spine/config"
	"github.com/spinehq/spine/internal/fsx"
)

// signingKeyEnv names the environment variable that points at the host's
// receipt signing key; it takes precedence over signing.key in spine.yaml.
const signingKeyEnv = "SPINE_SIGNING_KEY"

// defaultKeyPath is where `spine keygen` writes the host key without
// --out: $XDG_CONFIG_HOME/spine/host.key (~/.config/spine/host.key).
func defaultKeyPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no configuration folder for the host key (set --out): %w", err)
	}
	return filepath.Join(dir, "spine", "host.key"), nil
}

// expandHome turns a leading "~/" into the user's home folder.
func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("expand %s: %w", p, err)
	}
	return filepath.Join(home, strings.TrimPrefix(p, "~")), nil
}

// signingKeyPath returns the configured signing key's path ("" when
// receipts are not signed): $SPINE_SIGNING_KEY, else signing.key in
// spine.yaml (relative to the repository root when not absolute).
func signingKeyPath(root string, cfg *config.Config) (string, error) {
	p := os.Getenv(signingKeyEnv)
	if p == "" && cfg != nil {
		p = cfg.Signing.Key
	}
	if p == "" {
		return "", nil
	}
	p, err := expandHome(p)
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(root, p)
	}
	return p, nil
}

// loadSigner loads the configured signing key, or returns nil when none is
// configured. A configured key that cannot be used is an error: an
// operator who asked for signed receipts must not get unsigned ones.
func loadSigner(root string, cfg *config.Config) (*artifacts.Signer, error) {
	p, err := signingKeyPath(root, cfg)
	if err != nil || p == "" {
		return nil, err
	}
	if inside(root, p) {
		return nil, fmt.Errorf("signing key %s is inside the repository; move it out (spine keygen) so it is never committed", p)
	}
	s, err := artifacts.LoadSigner(p)
	if err != nil {
		return nil, fmt.Errorf("%w (configured by %s or signing.key in spine.yaml)", err, signingKeyEnv)
	}
	return s, nil
}

// inside reports whether p lies in the folder root (both made absolute
// and free of symlinks where they exist).
func inside(root, p string) bool {
	if root == "" {
		return false
	}
	real := func(x string) string {
		x, _ = filepath.Abs(x)
		// Resolve the longest existing prefix, so a path not yet created
		// is compared like the folder it will be created in.
		rest := ""
		for {
			if r, err := filepath.EvalSymlinks(x); err == nil {
				return filepath.Join(r, rest)
			}
			parent := filepath.Dir(x)
			if parent == x {
				return filepath.Join(x, rest)
			}
			rest = filepath.Join(filepath.Base(x), rest)
			x = parent
		}
	}
	rel, err := filepath.Rel(real(root), real(p))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func newKeygenCmd(a *app) *cobra.Command {
	var (
		out            string
		force, publish bool
		rf             runFlags
	)
	c := &cobra.Command{
		Use:   "keygen",
		Short: "Make this host's ed25519 receipt signing key",
		Long: `Make the host's ed25519 key that signs receipts, write it (PEM, PKCS #8,
mode 0600) to --out (default: $XDG_CONFIG_HOME/spine/host.key, i.e.
~/.config/spine/host.key), outside any repository, and print its public key
and key id.

Receipts are signed once a key is configured: signing.key in spine.yaml, or
SPINE_SIGNING_KEY in the environment (which wins). Each receipt then gets
receipt.dsse.json beside it: an in-toto Statement v1 about receipt.json,
output.log and the artifacts (sha256 digests), whose predicate is the
receipt, in a DSSE envelope signed with the key (keyid: sha256 of the public
key). spine verify --keys FILE checks them.

With --publish the public key is also added to receipt-keys.pem at the
repository root (commit it), where the evidence site and
"spine verify --keys receipt-keys.pem" find it. A key file in the repository
is only as trustworthy as the repository: auditors should verify against a
copy of the public keys they obtained on their own.

An existing key is never replaced without --force; with --publish alone, the
existing key's public key is published.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			root, rootErr := a.repoRoot()
			if rootErr != nil {
				root = ""
				if publish {
					return rootErr
				}
			}
			keyPath := out
			if err := checkHostFlag(rf.host); err != nil {
				return err
			}
			if keyPath == "" {
				p, err := defaultKeyPath()
				if err != nil {
					return exitf(exitUsage, "%v", err)
				}
				keyPath = p
			}
			keyPath, err := expandHome(keyPath)
			if err != nil {
				return exitf(exitUsage, "%v", err)
			}
			if keyPath, err = filepath.Abs(keyPath); err != nil {
				return exitf(exitUsage, "%v", err)
			}
			if inside(root, keyPath) {
				return exitf(exitUsage, "--out %s is inside the repository %s: a private key must never be committed; write it elsewhere", keyPath, root)
			}
			signer, created, err := makeKey(keyPath, force, publish)
			if err != nil {
				return exitf(exitUsage, "%v", err)
			}
			pub, err := artifacts.MarshalPublicKey(signer.PublicKey(), rf.hostName())
			if err != nil {
				return err
			}
			if created {
				fmt.Fprintf(a.stdout, "wrote %s (mode 0600; keep it on this host, never in a repository)\n", keyPath)
			} else {
				fmt.Fprintf(a.stdout, "using the existing key %s\n", keyPath)
			}
			fmt.Fprintf(a.stdout, "key id: %s\n\n%s\n", signer.KeyID(), pub)
			if publish {
				added, err := publishKey(root, pub, signer.KeyID())
				if err != nil {
					return exitf(exitFailed, "%v", err)
				}
				if added {
					fmt.Fprintf(a.stdout, "added the public key to %s; commit it\n", artifacts.PublishedKeysFile)
				} else {
					fmt.Fprintf(a.stdout, "%s already holds this key\n", artifacts.PublishedKeysFile)
				}
			}
			fmt.Fprintf(a.stdout, "sign receipts with it: spine.yaml\n  signing:\n    key: %s\nor %s=%s in spine's environment\n", keyPath, signingKeyEnv, keyPath)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&out, "out", "", "write the private key to `PATH` (default: $XDG_CONFIG_HOME/spine/host.key)")
	f.BoolVar(&force, "force", false, "replace an existing key (receipts it signed stay verifiable with its published public key only)")
	f.BoolVar(&publish, "publish", false, "add the public key to receipt-keys.pem in the repository")
	f.StringVar(&rf.host, "host", "", "label the public key with host `NAME` (default: this machine's host name)")
	return c
}

// makeKey writes a new key to out (refusing to replace one without force),
// or with keep loads the existing one. It reports whether it made a key.
func makeKey(out string, force, keep bool) (*artifacts.Signer, bool, error) {
	if _, err := os.Lstat(out); err == nil && !force {
		if keep {
			s, err := artifacts.LoadSigner(out)
			return s, false, err
		}
		return nil, false, fmt.Errorf("%s exists; spine keygen never replaces a key without --force", out)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("key %s: %w", out, err)
	}
	priv, err := artifacts.GenerateKey(nil)
	if err != nil {
		return nil, false, err
	}
	data, err := artifacts.MarshalPrivateKey(priv)
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
		return nil, false, fmt.Errorf("key folder: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".host.key.tmp-*")
	if err != nil {
		return nil, false, fmt.Errorf("write key: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file 0600 before a byte is written.
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if force {
			err = os.Rename(tmp.Name(), out)
		} else {
			err = os.Link(tmp.Name(), out) // fails if a key appeared meanwhile
		}
	}
	if err != nil {
		return nil, false, fmt.Errorf("write key %s: %w", out, err)
	}
	return artifacts.NewSigner(priv), true, nil
}

// publishKey adds a public key block to the repository's
// receipt-keys.pem unless a key with the same id is there already.
func publishKey(root string, pub []byte, keyID string) (bool, error) {
	full, err := artifacts.SafeJoin(root, artifacts.PublishedKeysFile)
	if err != nil {
		return false, fmt.Errorf("publish key: %w", err)
	}
	old, err := os.ReadFile(full)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("publish key: %w", err)
	}
	if len(old) > 0 {
		keys, err := artifacts.ParsePublicKeys(old)
		if err != nil {
			return false, fmt.Errorf("publish key: %s: %w", artifacts.PublishedKeysFile, err)
		}
		if _, ok := keys[keyID]; ok {
			return false, nil
		}
		if !bytes.HasSuffix(old, []byte("\n")) {
			old = append(old, '\n')
		}
	}
	if err := artifacts.WriteFileAtomic(full, append(old, pub...), fsx.FileMode); err != nil {
		return false, fmt.Errorf("publish key: %w", err)
	}
	return true, nil
}
