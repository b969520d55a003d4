enum _PlaceholderCorvidRuntime {}
