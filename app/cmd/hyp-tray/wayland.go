//go:build cgo && wayland

package main

// waylandBuild: built with -tags wayland, fyne's GLFW draws through Wayland.
const waylandBuild = true
