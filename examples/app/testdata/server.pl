#!/usr/bin/perl
# A tiny HTTP application for the example: it keeps its users in the
# PostgreSQL database named by DATABASE_URL and reconnects (runs psql) for
# every request, as a pooled application would after its connections were
# terminated. In your project this is your own service's image.
use strict;
use warnings;
use IO::Socket::INET;

my $db = $ENV{DATABASE_URL} or die "DATABASE_URL is not set\n";
my $server = IO::Socket::INET->new(LocalPort => 8080, Listen => 16, ReuseAddr => 1)
  or die "listen: $!\n";
$| = 1;
print "listening on :8080\n";

sub psql {
  my ($sql) = @_;
  open(my $fh, '-|', 'psql', $db, '-v', 'ON_ERROR_STOP=1', '-Atc', $sql) or return (undef, "psql: $!");
  local $/;
  my $out = <$fh>;
  close($fh);
  return ($? == 0 ? $out : undef, $out);
}

while (my $c = $server->accept) {
  my $line = <$c> // next;
  while (my $h = <$c>) { last if $h =~ /^\r?\n$/ }
  my ($method, $path) = split / /, $line;
  my ($status, $body) = (404, "not found\n");
  if ($method eq 'GET' && $path eq '/healthz') {
    ($status, $body) = (200, "ok\n");
  } elsif ($method eq 'GET' && $path eq '/users/count') {
    my ($out) = psql('SELECT count(*) FROM users');
    ($status, $body) = defined $out ? (200, "{\"count\": " . ($out + 0) . "}\n") : (500, "database error\n");
  } elsif ($method eq 'POST' && $path =~ m{^/users/(\w+)$}) {
    my ($out) = psql("INSERT INTO users(name) VALUES ('$1') RETURNING id");
    ($status, $body) = defined $out ? (201, "{\"id\": " . ($out + 0) . "}\n") : (500, "database error\n");
  }
  print $c "HTTP/1.0 $status X\r\nContent-Type: application/json\r\nContent-Length: " . length($body) . "\r\n\r\n$body";
  close $c;
}
