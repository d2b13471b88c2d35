//! The service dependency graph (petgraph): cycles reported with their path, start order as
//! topological levels (services of one level can start in parallel), and the closures used by
//! `up svc` (a service and what it needs) and `stop svc` (a service and what needs it).
//! Knows service names and edges only; not the compose model or any runtime.

use std::collections::HashMap;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Bfs, Reversed};
use petgraph::Direction;

/// Edges point from a service to the services it depends on.
#[derive(Clone, Debug, Default)]
pub struct DependencyGraph {
    graph: DiGraph<String, ()>,
    index: HashMap<String, NodeIndex>,
}

impl DependencyGraph {
    /// Builds the graph from `(service, its dependencies)`; dependencies on services that are not
    /// listed themselves are ignored (the loader reports undefined ones).
    pub fn new<'a, I, D>(services: I) -> DependencyGraph
    where
        I: IntoIterator<Item = (&'a str, D)>,
        D: IntoIterator<Item = &'a str>,
    {
        let services: Vec<(&str, Vec<&str>)> = services
            .into_iter()
            .map(|(s, deps)| (s, deps.into_iter().collect()))
            .collect();
        let mut g = DependencyGraph::default();
        for (name, _) in &services {
            let idx = g.graph.add_node(name.to_string());
            g.index.insert(name.to_string(), idx);
        }
        for (name, deps) in &services {
            for dep in deps {
                if let (Some(&a), Some(&b)) = (g.index.get(*name), g.index.get(*dep)) {
                    g.graph.update_edge(a, b, ());
                }
            }
        }
        g
    }

    /// A dependency cycle as a path that returns to its start (`a -> b -> a`), if there is one.
    pub fn cycle(&self) -> Option<Vec<String>> {
        let mut sccs = tarjan_scc(&self.graph);
        // Report the cycle that involves the earliest-declared service, for stable messages.
        sccs.sort_by_key(|scc| scc.iter().map(|n| n.index()).min());
        for scc in sccs {
            let cyclic = scc.len() > 1 || self.graph.contains_edge(scc[0], scc[0]);
            if !cyclic {
                continue;
            }
            let start = *scc.iter().min_by_key(|n| n.index())?;
            return Some(self.path_back_to(start, &scc));
        }
        None
    }

    /// A walk from `start` that stays inside `scc` and comes back to `start`.
    fn path_back_to(&self, start: NodeIndex, scc: &[NodeIndex]) -> Vec<String> {
        let mut path = vec![start];
        let mut seen = vec![start];
        let mut current = start;
        loop {
            let mut next: Vec<NodeIndex> = self
                .graph
                .neighbors_directed(current, Direction::Outgoing)
                .filter(|n| scc.contains(n))
                .collect();
            next.sort_by_key(|n| n.index());
            if next.contains(&start) {
                path.push(start);
                break;
            }
            match next.into_iter().find(|n| !seen.contains(n)) {
                Some(n) => {
                    path.push(n);
                    seen.push(n);
                    current = n;
                }
                None => {
                    path.push(start);
                    break;
                }
            }
        }
        path.into_iter().map(|n| self.graph[n].clone()).collect()
    }

    /// Start order: each level's services depend only on services of earlier levels. Within a
    /// level, names keep declaration order. Services caught in a cycle are left out.
    pub fn levels(&self) -> Vec<Vec<String>> {
        let mut remaining: Vec<usize> = self
            .graph
            .node_indices()
            .map(|n| {
                self.graph
                    .neighbors_directed(n, Direction::Outgoing)
                    .count()
            })
            .collect();
        let mut placed = vec![false; remaining.len()];
        let mut levels = Vec::new();
        loop {
            let level: Vec<NodeIndex> = self
                .graph
                .node_indices()
                .filter(|n| !placed[n.index()] && remaining[n.index()] == 0)
                .collect();
            if level.is_empty() {
                break;
            }
            for n in &level {
                placed[n.index()] = true;
                for dependent in self.graph.neighbors_directed(*n, Direction::Incoming) {
                    remaining[dependent.index()] -= 1;
                }
            }
            levels.push(level.into_iter().map(|n| self.graph[n].clone()).collect());
        }
        levels
    }

    /// `roots` and everything they depend on, transitively, in declaration order.
    pub fn with_dependencies(&self, roots: &[&str]) -> Vec<String> {
        self.closure(roots, false)
    }

    /// `roots` and everything that depends on them, transitively, in declaration order.
    pub fn with_dependents(&self, roots: &[&str]) -> Vec<String> {
        self.closure(roots, true)
    }

    fn closure(&self, roots: &[&str], reverse: bool) -> Vec<String> {
        let mut reached = vec![false; self.graph.node_count()];
        for root in roots {
            let Some(&start) = self.index.get(*root) else {
                continue;
            };
            if reverse {
                let rev = Reversed(&self.graph);
                let mut bfs = Bfs::new(rev, start);
                while let Some(n) = bfs.next(rev) {
                    reached[n.index()] = true;
                }
            } else {
                let mut bfs = Bfs::new(&self.graph, start);
                while let Some(n) = bfs.next(&self.graph) {
                    reached[n.index()] = true;
                }
            }
        }
        self.graph
            .node_indices()
            .filter(|n| reached[n.index()])
            .map(|n| self.graph[n].clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&'static str, &[&'static str])]) -> DependencyGraph {
        DependencyGraph::new(edges.iter().map(|(s, d)| (*s, d.iter().copied())))
    }

    #[test]
    fn levels_start_dependencies_first() {
        let g = graph(&[
            ("frontend", &["backend"]),
            ("backend", &["mongodb"]),
            ("mongodb", &[]),
            ("tool", &[]),
        ]);
        assert_eq!(
            g.levels(),
            vec![vec!["mongodb", "tool"], vec!["backend"], vec!["frontend"]]
        );
    }

    #[test]
    fn cycles_are_reported_with_their_path() {
        let g = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &[])]);
        assert_eq!(g.cycle().unwrap(), vec!["a", "b", "c", "a"]);
        let g = graph(&[("self", &["self"])]);
        assert_eq!(g.cycle().unwrap(), vec!["self", "self"]);
        assert!(graph(&[("a", &["b"]), ("b", &[])]).cycle().is_none());
    }

    #[test]
    fn closures_follow_edges_both_ways() {
        let g = graph(&[
            ("server", &["php", "mysql"]),
            ("php", &["mysql"]),
            ("mysql", &[]),
            ("npm", &[]),
        ]);
        assert_eq!(
            g.with_dependencies(&["server"]),
            vec!["server", "php", "mysql"]
        );
        assert_eq!(
            g.with_dependents(&["mysql"]),
            vec!["server", "php", "mysql"]
        );
    }
}
