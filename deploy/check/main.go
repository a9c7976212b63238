// deploycheck: static checks of the repository's Docker files, for machines without a
// Docker engine (ours). It uses the libraries Docker itself uses, so what passes here is
// what `docker compose` and `docker build` would read:
//
//	deploycheck compose FILE     load FILE with compose-go (schema validation, interpolation,
//	                             consistency checks, every profile enabled) and print the
//	                             resolved project as JSON
//	deploycheck dockerfile FILE  parse FILE with BuildKit's Dockerfile frontend, run its lint
//	                             rules (those of `docker build --check`) and print the stages
//	                             and instructions as JSON; any lint warning fails the check
//	deploycheck context DIR      list the files of build context DIR that DIR/.dockerignore
//	                             keeps, one per line, as `docker build DIR` would send them
//
// Exit status: 0 checked, 1 the file failed the check (the reason on stderr), 2 usage.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	digest "github.com/opencontainers/go-digest"
)

func main() {
	if len(os.Args) != 3 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "compose":
		err = checkCompose(os.Args[2])
	case "dockerfile":
		err = checkDockerfile(os.Args[2])
	case "context":
		err = listContext(os.Args[2])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "deploycheck %s %s: %v\n", os.Args[1], os.Args[2], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: deploycheck compose FILE | dockerfile FILE | context DIR")
	os.Exit(2)
}

// checkCompose loads the file as `docker compose` does, from the file's directory, with no
// .env and no variables from the environment (so defaults in the file are what is checked),
// with every profile enabled so the tools services are checked too.
func checkCompose(file string) error {
	abs, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	opts, err := cli.NewProjectOptions(
		[]string{abs},
		cli.WithWorkingDirectory(filepath.Dir(abs)),
		cli.WithEnv([]string{}),
		cli.WithProfiles([]string{"*"}),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		return err
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		return err
	}
	out, err := project.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(append(out, '\n'))
	return err
}

type instructionJSON struct {
	Name     string   `json:"name"`
	Line     int      `json:"line"`
	Original string   `json:"original"`
	Sources  []string `json:"sources,omitempty"`
	Dest     string   `json:"dest,omitempty"`
	From     string   `json:"from,omitempty"`
	Chown    string   `json:"chown,omitempty"`
	Args     []string `json:"args,omitempty"`
	Shell    *bool    `json:"shell,omitempty"`
	User     string   `json:"user,omitempty"`
	Path     string   `json:"path,omitempty"`
}

type stageJSON struct {
	Name         string            `json:"name"`
	Base         string            `json:"base"`
	Instructions []instructionJSON `json:"instructions"`
}

type lintJSON struct {
	Rule    string `json:"rule"`
	Message string `json:"message"`
	Line    int    `json:"line"`
}

type dockerfileJSON struct {
	MetaArgs map[string]string `json:"metaArgs"`
	Stages   []stageJSON       `json:"stages"`
	Warnings []lintJSON        `json:"warnings"`
}

// fakeResolver answers every base image lookup with an empty linux/amd64 image, so the lint
// rules run offline (the real resolver would ask the registry).
type fakeResolver struct{}

func (fakeResolver) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	config := []byte(`{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},"rootfs":{"type":"layers","diff_ids":[]}}`)
	return ref, digest.FromBytes(config), config, nil
}

func checkDockerfile(file string) error {
	dt, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	result, err := parser.Parse(strings.NewReader(string(dt)))
	if err != nil {
		return err
	}
	// Parse-time warnings (empty continuation lines and the like) are lint rules too.
	var warnings []lintJSON
	for _, w := range result.Warnings {
		line := 0
		if w.Location != nil {
			line = w.Location.Start.Line
		}
		warnings = append(warnings, lintJSON{Rule: "parser", Message: w.Short, Line: line})
	}
	stages, metaArgs, err := instructions.Parse(result.AST, nil)
	if err != nil {
		return err
	}
	out := dockerfileJSON{MetaArgs: map[string]string{}, Stages: []stageJSON{}}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			out.MetaArgs[kv.Key] = ""
			if kv.Value != nil {
				out.MetaArgs[kv.Key] = *kv.Value
			}
		}
	}
	for _, s := range stages {
		sj := stageJSON{Name: s.Name, Base: s.BaseName, Instructions: []instructionJSON{}}
		for _, c := range s.Commands {
			sj.Instructions = append(sj.Instructions, describe(c))
		}
		out.Stages = append(out.Stages, sj)
	}

	// The lint rules of `docker build --check`, every target, experimental rules included.
	sourceMap := llb.NewSourceMap(nil, filepath.Base(file), "Dockerfile", dt)
	sourceMap.Definition = &llb.Definition{}
	lint, err := dockerfile2llb.DockerfileLint(context.Background(), dt, dockerfile2llb.ConvertOpt{
		SourceMap:    sourceMap,
		MetaResolver: fakeResolver{},
		AllStages:    true,
	})
	if err != nil {
		return err
	}
	if lint.Error != nil {
		return errors.New(lint.Error.Message)
	}
	for _, w := range lint.Warnings {
		line := 0
		if w.Location != nil && len(w.Location.Ranges) > 0 {
			line = int(w.Location.Ranges[0].Start.Line)
		}
		warnings = append(warnings, lintJSON{Rule: w.RuleName, Message: w.Detail, Line: line})
	}
	out.Warnings = warnings
	if out.Warnings == nil {
		out.Warnings = []lintJSON{}
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		return err
	}
	if len(out.Warnings) > 0 {
		var lines []string
		for _, w := range out.Warnings {
			lines = append(lines, fmt.Sprintf("line %d: %s: %s", w.Line, w.Rule, w.Message))
		}
		return fmt.Errorf("%d lint warning(s):\n  %s", len(lines), strings.Join(lines, "\n  "))
	}
	return nil
}

func describe(c instructions.Command) instructionJSON {
	ij := instructionJSON{Name: c.Name()}
	if loc := c.Location(); len(loc) > 0 {
		ij.Line = loc[0].Start.Line
	}
	if s, ok := c.(fmt.Stringer); ok {
		ij.Original = s.String()
	}
	switch v := c.(type) {
	case *instructions.CopyCommand:
		ij.Sources, ij.Dest, ij.From, ij.Chown = v.SourcePaths, v.DestPath, v.From, v.Chown
	case *instructions.AddCommand:
		ij.Sources, ij.Dest, ij.Chown = v.SourcePaths, v.DestPath, v.Chown
	case *instructions.EntrypointCommand:
		shell := v.PrependShell
		ij.Args, ij.Shell = v.CmdLine, &shell
	case *instructions.CmdCommand:
		shell := v.PrependShell
		ij.Args, ij.Shell = v.CmdLine, &shell
	case *instructions.RunCommand:
		shell := v.PrependShell
		ij.Args, ij.Shell = v.CmdLine, &shell
	case *instructions.UserCommand:
		ij.User = v.User
	case *instructions.WorkdirCommand:
		ij.Path = v.Path
	}
	return ij
}

// listContext walks DIR as the Docker CLI does when it sends a build context: a path is
// left out when .dockerignore's patterns exclude it, and a directory is walked into only
// when it is kept or when an exception pattern could re-include something below it.
func listContext(dir string) error {
	var patterns []string
	if f, err := os.Open(filepath.Join(dir, ".dockerignore")); err == nil {
		patterns, err = ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return err
	}
	var files []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		skip, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return err
		}
		if skip {
			if d.IsDir() && !pm.Exclusions() {
				return filepath.SkipDir
			}
			if d.IsDir() && !exceptionBelow(pm, rel) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	w := bufio.NewWriter(os.Stdout)
	for _, f := range files {
		fmt.Fprintln(w, f)
	}
	return w.Flush()
}

// exceptionBelow: whether some `!pattern` could match a path inside directory dir.
func exceptionBelow(pm *patternmatcher.PatternMatcher, dir string) bool {
	for _, p := range pm.Patterns() {
		if !p.Exclusion() {
			continue
		}
		s := p.String()
		if strings.HasPrefix(s, dir+"/") || strings.HasPrefix(s, "**") || strings.ContainsAny(strings.SplitN(s, "/", 2)[0], "*?[") {
			return true
		}
	}
	return false
}
