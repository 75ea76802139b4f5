package store

import (
	"encoding/base64"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// sealed says whether the store keeps its URIs (and so its keys) encrypted: on Windows with
// DPAPI in machine scope, so a copy of the file taken elsewhere (a backup, another disk) is of
// no use, as wireguard-windows keeps its configurations.
const sealed = true

// seal encrypts b with DPAPI (CRYPTPROTECT_LOCAL_MACHINE: any process of this machine may
// decrypt, which is why the ACL matters as much) and returns it as base64.
func seal(b []byte) (string, error) {
	in := windows.DataBlob{Size: uint32(len(b)), Data: unsafe.SliceData(b)}
	var out windows.DataBlob
	err := windows.CryptProtectData(&in, nil, nil, 0, nil, windows.CRYPTPROTECT_UI_FORBIDDEN|windows.CRYPTPROTECT_LOCAL_MACHINE, &out)
	if err != nil {
		return "", fmt.Errorf("encrypting with DPAPI: %w", err)
	}
	defer windows.LocalFree(windows.Handle(unsafe.Pointer(out.Data)))
	return base64.StdEncoding.EncodeToString(unsafe.Slice(out.Data, out.Size)), nil
}

// unseal reverses seal.
func unseal(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("empty")
	}
	in := windows.DataBlob{Size: uint32(len(b)), Data: unsafe.SliceData(b)}
	var out windows.DataBlob
	if err := windows.CryptUnprotectData(&in, nil, nil, 0, nil, windows.CRYPTPROTECT_UI_FORBIDDEN, &out); err != nil {
		return nil, fmt.Errorf("decrypting with DPAPI (was it written on another machine?): %w", err)
	}
	defer windows.LocalFree(windows.Handle(unsafe.Pointer(out.Data)))
	return append([]byte(nil), unsafe.Slice(out.Data, out.Size)...), nil
}
