"""The browser console under /ui/: server-rendered pages over the same service functions as the APIs."""
