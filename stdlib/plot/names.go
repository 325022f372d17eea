package plot

import (
	"strconv"
	"strings"
)

// ShortName shortens a Hugging Face parameter name for an axis label:
// "model.layers.3.mlp.down_proj.weight" → "L3.mlp.down",
// "model.layers.0.self_attn.q_proj.weight" → "L0.attn.q",
// "model.layers.1.block_sparse_moe.experts.5.w1.weight" → "L1.moe.e5.w1",
// "model.embed_tokens.weight" → "embed". Names it does not recognise lose only the
// "model." prefix and ".weight" suffix.
func ShortName(name string) string {
	s := strings.TrimSuffix(name, ".weight")
	for _, p := range []string{"model.decoder.", "model.", "transformer.", "gpt_neox."} {
		if strings.HasPrefix(s, p) {
			s = strings.TrimPrefix(s, p)
			break
		}
	}
	parts := strings.Split(s, ".")
	out := make([]string, 0, len(parts))
	for i := 0; i < len(parts); i++ {
		p := parts[i]
		next := ""
		if i+1 < len(parts) {
			next = parts[i+1]
		}
		_, numErr := strconv.Atoi(next)
		switch {
		case (p == "layers" || p == "h" || p == "blocks" || p == "layer") && numErr == nil:
			out = append(out, "L"+next)
			i++
		case p == "experts" && numErr == nil:
			out = append(out, "e"+next)
			i++
		case p == "self_attn" || p == "attention":
			out = append(out, "attn")
		case p == "block_sparse_moe":
			out = append(out, "moe")
		case p == "embed_tokens":
			out = append(out, "embed")
		case strings.HasSuffix(p, "_proj") && len(p) > len("_proj"):
			out = append(out, strings.TrimSuffix(p, "_proj"))
		default:
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}

// shortNames shortens every name, keeping the full name where two different names
// would otherwise share a label.
func shortNames(names []string) []string {
	short := make([]string, len(names))
	owners := map[string]map[string]bool{}
	for i, n := range names {
		short[i] = ShortName(n)
		if owners[short[i]] == nil {
			owners[short[i]] = map[string]bool{}
		}
		owners[short[i]][n] = true
	}
	for i, n := range names {
		if len(owners[short[i]]) > 1 {
			short[i] = n
		}
	}
	return short
}
