// Command mp-image builds DigitalOcean Marketplace 1-Click images.
package main

func main() {}
