;; Two functions pinned down only by how they combine.
;; split: heldout
;; reference: (define-fun s ((x Int) (y Int)) Int (+ x y))
;; reference: (define-fun d ((x Int) (y Int)) Int (- x y))
(set-logic LIA)
(synth-fun s ((x Int) (y Int)) Int)
(synth-fun d ((x Int) (y Int)) Int)
(declare-var x Int)
(declare-var y Int)
(constraint (= (+ (s x y) (d x y)) (* 2 x)))
(constraint (= (- (s x y) (d x y)) (* 2 y)))
(check-synth)
