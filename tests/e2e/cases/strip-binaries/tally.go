// tally reports on the words given as arguments: how many, the longest, the most frequent
// letters, and each letter's count, as one line of JSON.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"unicode"
)

type report struct {
	Words   int            `json:"words"`
	Longest string         `json:"longest"`
	Top     []string       `json:"top"`
	Letters map[string]int `json:"letters"`
}

func tally(words []string) report {
	r := report{Words: len(words), Letters: map[string]int{}}
	for _, w := range words {
		if len([]rune(w)) > len([]rune(r.Longest)) {
			r.Longest = w
		}
		for _, c := range strings.ToLower(w) {
			if unicode.IsLetter(c) {
				r.Letters[string(c)]++
			}
		}
	}
	for k := range r.Letters {
		r.Top = append(r.Top, k)
	}
	sort.Slice(r.Top, func(i, j int) bool {
		a, b := r.Letters[r.Top[i]], r.Letters[r.Top[j]]
		return a > b || a == b && r.Top[i] < r.Top[j]
	})
	if len(r.Top) > 3 {
		r.Top = r.Top[:3]
	}
	return r
}

func main() {
	var words []string
	for _, arg := range os.Args[1:] {
		words = append(words, strings.Fields(arg)...)
	}
	if len(words) == 0 {
		fmt.Fprintln(os.Stderr, "usage: tally WORD...")
		os.Exit(2)
	}
	out, err := json.Marshal(tally(words))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}
