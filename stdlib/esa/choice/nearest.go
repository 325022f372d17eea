package choice

import "strings"

// Nearest returns the option of k the user most likely meant by s, or "" when
// nothing is close. It tries, in order: the alias tables (e.g.
// activation_magnitude → act_mag, gaussian → gauss_noise), the value with case
// and separators normalised, a unique prefix, a unique substring, and finally
// the smallest edit distance if it is small relative to the word.
func (k Kind) Nearest(s string) string {
	n := normalize(s)
	if n == "" {
		return ""
	}
	if a, ok := k.Accepted[n]; ok {
		return a
	}
	if a, ok := k.Suggest[n]; ok {
		return a
	}
	names := k.Names()
	for _, o := range names {
		if n == o || strings.ReplaceAll(o, "_", "") == strings.ReplaceAll(n, "_", "") {
			return o
		}
	}
	if len(n) >= 2 {
		if o := unique(names, func(o string) bool { return strings.HasPrefix(o, n) || strings.HasPrefix(n, o) }); o != "" {
			return o
		}
	}
	if len(n) >= 3 {
		if o := unique(names, func(o string) bool { return strings.Contains(o, n) || strings.Contains(n, o) }); o != "" {
			return o
		}
	}
	best, bestD := "", 1<<30
	for _, o := range names {
		if d := editDistance(n, o); d < bestD {
			best, bestD = o, d
		}
	}
	// A distance of up to a third of the option (at least 2) is a typo;
	// beyond that the suggestion would be a guess.
	if bestD <= max(2, len(best)/3) {
		return best
	}
	return ""
}

// normalize lowercases s and turns '-', ' ' and '.' into '_' so that
// "Act-Mag" and "act mag" compare equal to act_mag.
func normalize(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.NewReplacer("-", "_", " ", "_", ".", "_").Replace(s)
}

// unique returns the only name satisfying f, or "" if none or several do.
func unique(names []string, f func(string) bool) string {
	found := ""
	for _, o := range names {
		if f(o) {
			if found != "" {
				return ""
			}
			found = o
		}
	}
	return found
}

// editDistance is the optimal-string-alignment distance (Levenshtein plus
// adjacent transpositions, which are the most common typo).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
