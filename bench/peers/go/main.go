// Benchmark peer: minimal grpc-go server exposing grpc.health.v1.Health/Check
// over TLS with mandatory, verified client certificates (mTLS).
//
// Usage: go-health -listen 127.0.0.1:PORT -cert server.pem -key server-key.pem -ca ca.pem
//
// Prints "ready" on stdout once the listening socket is bound.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io/ioutil"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:50051", "address to listen on")
	certFile := flag.String("cert", "", "server certificate chain (PEM)")
	keyFile := flag.String("key", "", "server private key (PEM)")
	caFile := flag.String("ca", "", "CA bundle used to verify client certificates (PEM)")
	flag.Parse()

	if *certFile == "" || *keyFile == "" || *caFile == "" {
		log.Fatal("-cert, -key and -ca are required")
	}

	pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatalf("loading server key pair: %v", err)
	}
	caPEM, err := ioutil.ReadFile(*caFile)
	if err != nil {
		log.Fatalf("reading CA file: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		log.Fatalf("no certificates found in %s", *caFile)
	}

	tlsConf := &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		NextProtos:   []string{"h2"},
		MinVersion:   tls.VersionTLS12,
	}

	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsConf)))
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)

	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("listen %s: %v", *listen, err)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		srv.Stop()
	}()

	fmt.Fprintln(os.Stdout, "ready")
	os.Stdout.Sync()

	if err := srv.Serve(lis); err != nil && err != grpc.ErrServerStopped {
		log.Fatalf("serve: %v", err)
	}
}
