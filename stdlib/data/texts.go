// Package data reads the evaluation and calibration texts of a run.
package data

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ReadTexts reads texts from path: JSONL (every non-empty line a JSON object
// with a string "text"), recognised by a .jsonl extension or a first
// non-empty line starting with "{"; otherwise one text per non-empty line.
// A missing or empty file is an error (never a silent fallback to other
// text), as is a JSONL line without "text"; errors name the file and line.
func ReadTexts(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data file: %v", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	var texts []string
	jsonl := strings.HasSuffix(strings.ToLower(path), ".jsonl")
	decided := jsonl
	for lineNo := 1; ; lineNo++ {
		line, err := r.ReadString('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("data file %s: %v", path, err)
		}
		s := strings.TrimRight(line, "\r\n")
		if lineNo == 1 {
			s = strings.TrimPrefix(s, "\ufeff") // a UTF-8 byte-order mark is not text
		}
		if strings.TrimSpace(s) != "" {
			if !decided {
				decided = true
				t := strings.TrimSpace(s)
				jsonl = strings.HasPrefix(t, "{")
				if strings.HasPrefix(t, "[") {
					return nil, fmt.Errorf("data file %s: a JSON array is not supported; give one text per line, or JSONL with a \"text\" field", path)
				}
			}
			if jsonl {
				text, jerr := jsonText([]byte(s))
				if jerr != nil {
					return nil, fmt.Errorf("data file %s:%d: %v", path, lineNo, jerr)
				}
				texts = append(texts, text)
			} else {
				texts = append(texts, s)
			}
		}
		if err == io.EOF {
			break
		}
	}
	if len(texts) == 0 {
		return nil, fmt.Errorf("data file %s holds no texts (want one per non-empty line, or JSONL with \"text\")", path)
	}
	return texts, nil
}

func jsonText(line []byte) (string, error) {
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return "", errors.New("not a JSON object (JSONL needs one object with a \"text\" field per line)")
	}
	if dec.More() {
		return "", errors.New("more than one JSON value on the line")
	}
	raw, ok := obj["text"]
	if !ok {
		return "", errors.New(`JSON object has no "text" field`)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf(`"text" must be a string, got %s`, raw)
	}
	if strings.TrimSpace(s) == "" {
		return "", errors.New(`"text" is empty`)
	}
	return s, nil
}
