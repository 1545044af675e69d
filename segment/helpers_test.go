package segment

import "encoding/hex"

func hexBytes(s string) ([]byte, error) { return hex.DecodeString(s) }

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}
