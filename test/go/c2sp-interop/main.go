// Command c2sp-interop checks Vitalog's C2SP artefacts with Go's reference implementation,
// golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog, and nothing of Vitalog's own.
//
// It reads one JSON object on stdin:
//
//	{
//	  "vkey":   "<C2SP vkey of the log>",                       (required)
//	  "origin": "<expected checkpoint origin>",                 (optional; default: the vkey's key name)
//	  "proof":  "<c2sp.org/tlog-proof@v1 text>",                (required)
//	  "entry":  "<base64 of the leaf's entry bytes>",           (required; leaf hash = tlog.RecordHash(entry))
//	  "leafHash": "<base64 leaf hash as the producer computed it>",      (optional; must equal RecordHash(entry))
//	  "skey":   "<Go note private key of the log>",             (optional; Go re-signs the checkpoint text and
//	                                                             must produce the very same note bytes)
//	  "consistency": { "old": "<signed checkpoint>", "new": "<signed checkpoint>",
//	                   "proof": ["<base64 hash>", …] }          (optional; checked with tlog.CheckTree)
//	}
//
// Every check that passes prints "OK <step> …" on stdout. The first failing check prints
// "FAIL <step>: <reason>" on stderr and exits 1. Steps, in order: input, vkey, skey, proof-parse,
// note, checkpoint, origin, leaf-hash, index, inclusion, consistency.
//
// The checkpoint body (C2SP tlog-checkpoint: origin, size, base64 root, extension lines) is parsed here:
// tlog.ParseTree only reads the older go.sum tree note, whose first line must be the fixed
// "go.sum database tree". Its size and root lines are the same format, so the checkpoint text is also
// handed to tlog.ParseTree with its origin line replaced by that fixed line, and both parses must agree.
//
// Builds offline with Debian's golang-go (1.19) and golang-golang-x-mod-dev (0.7.0), in GOPATH mode:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE=$(mktemp -d) go build -o c2sp-interop .
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type input struct {
	Vkey        string `json:"vkey"`
	Origin      string `json:"origin"`
	Proof       string `json:"proof"`
	Entry       string `json:"entry"`
	LeafHash    string `json:"leafHash"`
	Skey        string `json:"skey"`
	Consistency *struct {
		Old   string   `json:"old"`
		New   string   `json:"new"`
		Proof []string `json:"proof"`
	} `json:"consistency"`
}

// checkpoint is a parsed C2SP tlog-checkpoint note text.
type checkpoint struct {
	Origin     string
	Size       int64
	Root       tlog.Hash
	Extensions []string
}

// tlogProof is a parsed c2sp.org/tlog-proof@v1.
type tlogProof struct {
	Extra      []byte
	Index      int64
	Inclusion  tlog.RecordProof
	Checkpoint []byte
}

func fail(step string, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "FAIL %s: %s\n", step, fmt.Sprintf(format, args...))
	os.Exit(1)
}

func ok(step string, format string, args ...any) {
	fmt.Printf("OK %s %s\n", step, fmt.Sprintf(format, args...))
}

// parseDecimal accepts ASCII decimal without leading zeroes (unless "0"), as C2SP requires.
func parseDecimal(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != s {
		return 0, fmt.Errorf("%q is not a canonical decimal", s)
	}
	return n, nil
}

// parseCheckpoint parses a checkpoint note text per C2SP tlog-checkpoint v1.0.0.
func parseCheckpoint(text string) (checkpoint, error) {
	if !strings.HasSuffix(text, "\n") {
		return checkpoint{}, errors.New("text does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return checkpoint{}, errors.New("fewer than 3 lines (origin, size, root)")
	}
	if lines[0] == "" {
		return checkpoint{}, errors.New("empty origin")
	}
	size, err := parseDecimal(lines[1])
	if err != nil {
		return checkpoint{}, fmt.Errorf("size: %v", err)
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		return checkpoint{}, fmt.Errorf("root: %v", err)
	}
	for _, ext := range lines[3:] {
		if ext == "" {
			return checkpoint{}, errors.New("empty extension line")
		}
	}
	cp := checkpoint{Origin: lines[0], Size: size, Root: root, Extensions: lines[3:]}

	// Cross-check with Go's own tree-note parser: same size and hash lines, fixed first line.
	tree, err := tlog.ParseTree([]byte("go.sum database tree\n" + strings.Join(lines[1:], "\n") + "\n"))
	if err != nil {
		return checkpoint{}, fmt.Errorf("tlog.ParseTree on the size and root lines: %v", err)
	}
	if tree.N != cp.Size || tree.Hash != cp.Root {
		return checkpoint{}, errors.New("tlog.ParseTree disagrees with the C2SP parse")
	}
	return cp, nil
}

// parseTlogProof parses c2sp.org/tlog-proof@v1:
//
//	c2sp.org/tlog-proof@v1
//	[extra <base64>]
//	index <decimal>
//	<base64 hash>*
//	<empty line>
//	<signed checkpoint note>
func parseTlogProof(text string) (tlogProof, error) {
	head, cp, found := strings.Cut(text, "\n\n")
	if !found {
		return tlogProof{}, errors.New("no empty line before the checkpoint")
	}
	lines := strings.Split(head, "\n")
	if lines[0] != "c2sp.org/tlog-proof@v1" {
		return tlogProof{}, fmt.Errorf("first line %q is not c2sp.org/tlog-proof@v1", lines[0])
	}
	var p tlogProof
	i := 1
	if i < len(lines) && strings.HasPrefix(lines[i], "extra ") {
		extra, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[i], "extra "))
		if err != nil {
			return tlogProof{}, fmt.Errorf("extra: %v", err)
		}
		p.Extra = extra
		i++
	}
	if i >= len(lines) || !strings.HasPrefix(lines[i], "index ") {
		return tlogProof{}, errors.New("no index line")
	}
	index, err := parseDecimal(strings.TrimPrefix(lines[i], "index "))
	if err != nil {
		return tlogProof{}, fmt.Errorf("index: %v", err)
	}
	p.Index = index
	for _, line := range lines[i+1:] {
		h, err := tlog.ParseHash(line)
		if err != nil {
			return tlogProof{}, fmt.Errorf("inclusion hash %q: %v", line, err)
		}
		p.Inclusion = append(p.Inclusion, h)
	}
	if cp == "" {
		return tlogProof{}, errors.New("no checkpoint")
	}
	p.Checkpoint = []byte(cp)
	return p, nil
}

// openCheckpoint verifies a signed checkpoint note with note.Open and parses its text.
func openCheckpoint(step string, msg []byte, verifiers note.Verifiers, origin string) checkpoint {
	n, err := note.Open(msg, verifiers)
	if err != nil {
		fail(step, "note.Open: %v", err)
	}
	ok(step, "note.Open verified %d signature(s) by %s (%d unknown)", len(n.Sigs), n.Sigs[0].Name, len(n.UnverifiedSigs))
	cp, err := parseCheckpoint(n.Text)
	if err != nil {
		fail(step, "checkpoint: %v", err)
	}
	if cp.Origin != origin {
		fail(step, "origin %q is not the expected %q", cp.Origin, origin)
	}
	return cp
}

func main() {
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("input", "read stdin: %v", err)
	}
	var in input
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		fail("input", "JSON: %v", err)
	}
	if in.Vkey == "" || in.Proof == "" || in.Entry == "" {
		fail("input", "vkey, proof and entry are required")
	}

	// vkey: note.NewVerifier parses it and recomputes the key ID from name and key.
	verifier, err := note.NewVerifier(in.Vkey)
	if err != nil {
		fail("vkey", "note.NewVerifier: %v", err)
	}
	ok("vkey", "name=%s keyid=%08x", verifier.Name(), verifier.KeyHash())
	verifiers := note.VerifierList(verifier)
	origin := in.Origin
	if origin == "" {
		origin = verifier.Name()
	}

	p, err := parseTlogProof(in.Proof)
	if err != nil {
		fail("proof-parse", "%v", err)
	}
	ok("proof-parse", "index=%d hashes=%d", p.Index, len(p.Inclusion))

	// skey: Ed25519 is deterministic, so Go signing the same text with our key must give the same note.
	if in.Skey != "" {
		signer, err := note.NewSigner(in.Skey)
		if err != nil {
			fail("skey", "note.NewSigner: %v", err)
		}
		if signer.Name() != verifier.Name() || signer.KeyHash() != verifier.KeyHash() {
			fail("skey", "skey %s+%08x does not match vkey", signer.Name(), signer.KeyHash())
		}
		n, err := note.Open(p.Checkpoint, verifiers)
		if err != nil {
			fail("note", "note.Open: %v", err)
		}
		signed, err := note.Sign(&note.Note{Text: n.Text}, signer)
		if err != nil {
			fail("skey", "note.Sign: %v", err)
		}
		if !bytes.Equal(signed, p.Checkpoint) {
			fail("skey", "note.Sign with our skey gives %q, we produced %q", signed, p.Checkpoint)
		}
		ok("skey", "note.NewSigner + note.Sign reproduce the checkpoint note byte for byte")
	}

	cp := openCheckpoint("note", p.Checkpoint, verifiers, origin)
	ok("checkpoint", "origin=%s size=%d root=%s extensions=%d", cp.Origin, cp.Size, cp.Root, len(cp.Extensions))
	ok("origin", "%s", origin)

	entry, err := base64.StdEncoding.DecodeString(in.Entry)
	if err != nil {
		fail("input", "entry: %v", err)
	}
	leaf := tlog.RecordHash(entry)
	if in.LeafHash != "" {
		theirs, err := tlog.ParseHash(in.LeafHash)
		if err != nil {
			fail("leaf-hash", "leafHash: %v", err)
		}
		if theirs != leaf {
			fail("leaf-hash", "tlog.RecordHash(entry)=%s but the producer's leaf hash is %s", leaf, theirs)
		}
		ok("leaf-hash", "tlog.RecordHash(entry) = producer's leaf hash %s", leaf)
	} else {
		ok("leaf-hash", "tlog.RecordHash(entry) = %s", leaf)
	}

	if p.Index >= cp.Size {
		fail("index", "index %d is not below checkpoint size %d", p.Index, cp.Size)
	}
	if err := tlog.CheckRecord(p.Inclusion, cp.Size, cp.Root, p.Index, leaf); err != nil {
		fail("inclusion", "tlog.CheckRecord(index=%d, size=%d): %v", p.Index, cp.Size, err)
	}
	ok("inclusion", "tlog.CheckRecord: leaf %d is in the tree of size %d", p.Index, cp.Size)

	if c := in.Consistency; c != nil {
		oldCp := openCheckpoint("consistency", []byte(c.Old), verifiers, origin)
		newCp := openCheckpoint("consistency", []byte(c.New), verifiers, origin)
		var proof tlog.TreeProof
		for _, s := range c.Proof {
			h, err := tlog.ParseHash(s)
			if err != nil {
				fail("consistency", "proof hash %q: %v", s, err)
			}
			proof = append(proof, h)
		}
		if err := tlog.CheckTree(proof, newCp.Size, newCp.Root, oldCp.Size, oldCp.Root); err != nil {
			fail("consistency", "tlog.CheckTree(%d -> %d): %v", oldCp.Size, newCp.Size, err)
		}
		ok("consistency", "tlog.CheckTree: tree %d is a prefix of tree %d (%d hashes)", oldCp.Size, newCp.Size, len(proof))
	}
	fmt.Println("OK all")
}
