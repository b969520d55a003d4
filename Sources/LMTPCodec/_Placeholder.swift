enum _PlaceholderLMTPCodec {}
