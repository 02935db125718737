// gotlog checks edxbus's transparency-log proofs and signed checkpoints with Go's
// golang.org/x/mod/sumdb/tlog and sumdb/note, and makes proofs and notes of its own
// for edxbus to check. It reads one JSON request on stdin and writes one JSON reply.
package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type inclusion struct {
	Index int64    `json:"index"`
	Size  int64    `json:"size"`
	Proof []string `json:"proof"`
}

type consistency struct {
	Old   int64    `json:"old"`
	New   int64    `json:"new"`
	Proof []string `json:"proof"`
}

type request struct {
	Op          string        `json:"op"`
	Records     []string      `json:"records"`
	Note        string        `json:"note"`
	VKey        string        `json:"vkey"`
	Name        string        `json:"name"`
	Inclusion   []inclusion   `json:"inclusion"`
	Consistency []consistency `json:"consistency"`
}

type reply struct {
	Error       string            `json:"error,omitempty"`
	Origin      string            `json:"origin,omitempty"`
	Size        int64             `json:"size,omitempty"`
	Root        string            `json:"root,omitempty"`
	VKey        string            `json:"vkey,omitempty"`
	Note        string            `json:"note,omitempty"`
	Roots       map[string]string `json:"roots,omitempty"`
	Inclusion   []inclusion       `json:"inclusion,omitempty"`
	Consistency []consistency     `json:"consistency,omitempty"`
}

type memory []tlog.Hash

func (m memory) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x >= int64(len(m)) {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = m[x]
	}
	return out, nil
}

func store(records [][]byte) (memory, error) {
	var m memory
	for i, r := range records {
		hashes, err := tlog.StoredHashes(int64(i), r, m)
		if err != nil {
			return nil, err
		}
		m = append(m, hashes...)
	}
	return m, nil
}

func decodeProof(parts []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(parts))
	for i, p := range parts {
		raw, err := base64.StdEncoding.DecodeString(p)
		if err != nil || len(raw) != tlog.HashSize {
			return nil, fmt.Errorf("bad proof hash %q", p)
		}
		copy(out[i][:], raw)
	}
	return out, nil
}

func encodeProof(hashes []tlog.Hash) []string {
	out := make([]string, len(hashes))
	for i, h := range hashes {
		out[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return out
}

func check(req request, m memory, records [][]byte) (reply, error) {
	verifier, err := note.NewVerifier(req.VKey)
	if err != nil {
		return reply{}, err
	}
	n, err := note.Open([]byte(req.Note), note.VerifierList(verifier))
	if err != nil {
		return reply{}, err
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) < 3 {
		return reply{}, fmt.Errorf("checkpoint has %d lines", len(lines))
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		return reply{}, err
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		return reply{}, err
	}
	want, err := tlog.TreeHash(size, m)
	if err != nil {
		return reply{}, err
	}
	if want != root {
		return reply{}, fmt.Errorf("checkpoint root %v, tlog computes %v", root, want)
	}
	for _, inc := range req.Inclusion {
		proof, err := decodeProof(inc.Proof)
		if err != nil {
			return reply{}, err
		}
		th, err := tlog.TreeHash(inc.Size, m)
		if err != nil {
			return reply{}, err
		}
		if err := tlog.CheckRecord(tlog.RecordProof(proof), inc.Size, th, inc.Index, tlog.RecordHash(records[inc.Index])); err != nil {
			return reply{}, fmt.Errorf("inclusion %d in %d: %v", inc.Index, inc.Size, err)
		}
	}
	for _, c := range req.Consistency {
		proof, err := decodeProof(c.Proof)
		if err != nil {
			return reply{}, err
		}
		oldHash, err := tlog.TreeHash(c.Old, m)
		if err != nil {
			return reply{}, err
		}
		newHash, err := tlog.TreeHash(c.New, m)
		if err != nil {
			return reply{}, err
		}
		if err := tlog.CheckTree(tlog.TreeProof(proof), c.New, newHash, c.Old, oldHash); err != nil {
			return reply{}, fmt.Errorf("consistency %d to %d: %v", c.Old, c.New, err)
		}
	}
	return reply{Origin: lines[0], Size: size, Root: lines[2]}, nil
}

func prove(req request, m memory, records [][]byte) (reply, error) {
	out := reply{Roots: map[string]string{}}
	size := int64(len(records))
	for s := int64(1); s <= size; s++ {
		h, err := tlog.TreeHash(s, m)
		if err != nil {
			return reply{}, err
		}
		out.Roots[strconv.FormatInt(s, 10)] = h.String()
	}
	for _, inc := range req.Inclusion {
		p, err := tlog.ProveRecord(inc.Size, inc.Index, m)
		if err != nil {
			return reply{}, err
		}
		out.Inclusion = append(out.Inclusion, inclusion{inc.Index, inc.Size, encodeProof(p)})
	}
	for _, c := range req.Consistency {
		p, err := tlog.ProveTree(c.New, c.Old, m)
		if err != nil {
			return reply{}, err
		}
		out.Consistency = append(out.Consistency, consistency{c.Old, c.New, encodeProof(p)})
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, req.Name)
	if err != nil {
		return reply{}, err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return reply{}, err
	}
	text := fmt.Sprintf("%s\n%d\n%s\n", req.Name, size, out.Roots[strconv.FormatInt(size, 10)])
	msg, err := note.Sign(&note.Note{Text: text}, signer)
	if err != nil {
		return reply{}, err
	}
	out.VKey = vkey
	out.Note = string(msg)
	return out, nil
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fail(err)
	}
	records := make([][]byte, len(req.Records))
	for i, r := range req.Records {
		raw, err := base64.StdEncoding.DecodeString(r)
		if err != nil {
			fail(err)
		}
		records[i] = raw
	}
	m, err := store(records)
	if err != nil {
		fail(err)
	}
	var out reply
	switch req.Op {
	case "check":
		out, err = check(req, m, records)
	case "prove":
		out, err = prove(req, m, records)
	default:
		err = fmt.Errorf("unknown op %q", req.Op)
	}
	if err != nil {
		fail(err)
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}

func fail(err error) {
	_ = json.NewEncoder(os.Stdout).Encode(reply{Error: err.Error()})
	os.Exit(1)
}
