enum _PlaceholderLMTPServer {}
