package backend

// AttentionSaver is implemented by backends whose Attention saves less than
// the probabilities for AttentionBackward: the CUDA backend keeps each row's
// log-sum-exp [heads, tq] and recomputes the probabilities in the backward
// (flash attention), so a kept forward needs O(heads·T) per layer for
// attention instead of O(heads·T²).
type AttentionSaver interface {
	// AttentionSavedLen is how many elements the probs buffer given to
	// Attention (and then to AttentionBackward) must hold.
	AttentionSavedLen(heads, tq, tk int) int
	// AttentionProbs is Attention that also writes the probabilities
	// [heads, tq, tk] (zero outside each row's keys) into probs, for a
	// caller that wants to see them; it saves nothing for the backward.
	AttentionProbs(out, probs, q, k, v Buffer, tq, tk, heads, kvHeads, headDim, window int)
}

// AttentionSavedLen returns how many elements the buffer that carries
// be.Attention's saved state to be.AttentionBackward needs: heads·tq·tk (the
// probabilities) unless be is an AttentionSaver.
func AttentionSavedLen(be Backend, heads, tq, tk int) int {
	if s, ok := be.(AttentionSaver); ok {
		return s.AttentionSavedLen(heads, tq, tk)
	}
	return heads * tq * tk
}

// AttentionProbs runs Attention on be and writes the probabilities [heads,
// tq, tk] into probs whatever be saves for its backward.
func AttentionProbs(be Backend, out, probs, q, k, v Buffer, tq, tk, heads, kvHeads, headDim, window int) {
	if s, ok := be.(AttentionSaver); ok {
		s.AttentionProbs(out, probs, q, k, v, tq, tk, heads, kvHeads, headDim, window)
		return
	}
	be.Attention(out, probs, q, k, v, tq, tk, heads, kvHeads, headDim, window)
}
