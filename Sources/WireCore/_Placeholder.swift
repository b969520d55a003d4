enum _PlaceholderWireCore {}
