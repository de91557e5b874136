"""The live session's media edge: WebRTC peers (aiortc), signalling helpers, the frame sampler that feeds
the session analyzer off the event loop, the encrypted recorder, the agent relay, injection signals."""
