// Package corpus writes the training text of the built-in default model: short
// children's stories produced by a small seeded grammar. The text is the
// project's own (no data set is downloaded), simple enough for a model of a few
// hundred thousand weights to learn, and structured enough — names that recur,
// pronouns that agree, a problem that gets solved — that a trained model has
// real regularities for sensitivity analysis to find.
package corpus

import (
	"math/rand/v2"
	"strings"
)

type character struct {
	name, pronoun, possessive, object, kind string
}

var (
	girls   = []string{"Lily", "Mia", "Anna", "Sara", "Emma", "Lucy", "Zoe", "Ella", "Rosa", "Nina"}
	boys    = []string{"Tom", "Ben", "Max", "Sam", "Leo", "Jack", "Tim", "Noah", "Finn", "Omar"}
	animals = []string{"cat", "dog", "bird", "frog", "bunny", "duck", "fox", "bear", "mouse", "fish"}
	places  = []string{"park", "garden", "forest", "beach", "farm", "lake", "hill", "town", "yard", "river"}
	objects = []string{"ball", "kite", "box", "hat", "book", "cake", "boat", "drum", "shell", "key"}
	colours = []string{"red", "blue", "green", "yellow", "big", "small", "shiny", "old", "soft", "pretty"}
	moods   = []string{"happy", "sad", "scared", "tired", "excited", "angry", "proud", "calm"}
	weather = []string{"sunny", "rainy", "windy", "cold", "warm", "bright"}
	foods   = []string{"an apple", "some bread", "a cookie", "some soup", "a pear", "some milk"}
	friends = []string{"friend", "mom", "dad", "sister", "brother", "grandma"}
)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func newChild(r *rand.Rand) character {
	if r.IntN(2) == 0 {
		return character{pick(r, girls), "she", "her", "her", "girl"}
	}
	return character{pick(r, boys), "he", "his", "him", "boy"}
}

// article gives "a" or "an" for the word that follows.
func article(word string) string {
	if strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Story returns one story drawn from r.
func Story(r *rand.Rand) string {
	c := newChild(r)
	pet := pick(r, animals)
	place := pick(r, places)
	obj := pick(r, objects)
	col := pick(r, colours)
	who := pick(r, friends)
	var b strings.Builder
	s := func(parts ...string) {
		b.WriteString(capital(strings.Join(parts, " ")))
		b.WriteString(". ")
	}
	switch r.IntN(3) {
	case 0:
		s("once upon a time, there was a little", c.kind, "named", c.name)
	case 1:
		s("one", pick(r, weather), "day,", c.name, "went to the", place)
	default:
		s(c.name, "was a little", c.kind, "who had", article(pet), pet)
	}
	s(c.pronoun, "loved to play in the", place, "with", c.possessive, pet)
	s("one day,", c.name, "saw", article(col), col, obj)
	switch r.IntN(4) {
	case 0:
		s(c.pronoun, "wanted to get the", obj, "but it was too high")
		s(c.name, "asked", c.possessive, who, "for help")
		s("the", who, "smiled and gave the", obj, "to", c.object)
	case 1:
		s("the", obj, "fell into the water and", c.name, "felt", pick(r, moods))
		s("the", pet, "jumped in and brought the", obj, "back")
		s(c.name, "hugged the", pet, "and said thank you")
	case 2:
		s(c.name, "and the", pet, "played with the", obj, "all day")
		s("then they were hungry, so they ate", pick(r, foods))
	default:
		thief := pick(r, animals)
		s(article(thief), thief, "took the", obj, "and ran away")
		s(c.name, "was", pick(r, moods), "and ran after it")
		s("at last", c.pronoun, "found the", obj, "under a tree")
	}
	s(c.name, "was", pick(r, moods[:1]), "and went home with", c.possessive, pet)
	if r.IntN(2) == 0 {
		s("the end")
	}
	return strings.TrimSpace(b.String())
}

// Stories returns n stories from a generator seeded with seed; the same seed
// always gives the same text.
func Stories(seed uint64, n int) []string {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	out := make([]string, n)
	for i := range out {
		out[i] = Story(r)
	}
	return out
}
