//go:build cgo && !wayland

package main

// waylandBuild: fyne's default GLFW draws through X11 (on Wayland, Xwayland).
const waylandBuild = false
