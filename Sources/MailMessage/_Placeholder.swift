enum _PlaceholderMailMessage {}
