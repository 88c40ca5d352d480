import { useEffect, useLayoutEffect, useRef, useState, type ReactNode } from 'react';

interface VirtualListProps {
  count: number;
  /** Every row has this height in CSS pixels (the stylesheet must agree). */
  rowHeight: number;
  renderRow: (index: number) => ReactNode;
  /** Rows rendered beyond the visible ones, above and below, so fast scrolling and Tab stay smooth. */
  overscan?: number;
  /** Told which rows are in view, e.g. to fetch the next page before the end is reached. */
  onRangeChange?: (start: number, end: number) => void;
  className?: string;
  label: string;
}

/**
 * Windowing: only the rows in view (plus a margin) exist in the DOM, so 10,000
 * machines cost what 30 do. The scroll height comes from a spacer, and the
 * rendered slice is moved into place with a transform. Both are set through
 * the CSSOM, which the CSP allows; no style attribute appears in markup.
 * The list is focusable so the keyboard can scroll it.
 */
export function VirtualList({ count, rowHeight, renderRow, overscan = 8, onRangeChange, className, label }: VirtualListProps) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const spacerRef = useRef<HTMLDivElement>(null);
  const windowRef = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(600);

  useEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    let frame = 0;
    const onScroll = () => {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        setScrollTop(el.scrollTop);
      });
    };
    el.addEventListener('scroll', onScroll, { passive: true });
    const observer = new ResizeObserver(() => setViewport(el.clientHeight || 600));
    observer.observe(el);
    return () => {
      el.removeEventListener('scroll', onScroll);
      observer.disconnect();
      cancelAnimationFrame(frame);
    };
  }, []);

  const first = Math.floor(scrollTop / rowHeight);
  const start = Math.max(0, first - overscan);
  const end = Math.min(count, Math.ceil((scrollTop + viewport) / rowHeight) + overscan);

  useLayoutEffect(() => {
    spacerRef.current?.style.setProperty('height', `${count * rowHeight}px`);
    windowRef.current?.style.setProperty('transform', `translateY(${start * rowHeight}px)`);
  }, [count, rowHeight, start]);

  useEffect(() => {
    onRangeChange?.(start, end);
  }, [start, end, onRangeChange]);

  const rows: ReactNode[] = [];
  for (let i = start; i < end; i++) rows.push(renderRow(i));

  return (
    <div ref={scrollRef} className={`vlist ${className ?? ''}`} tabIndex={0} role="rowgroup" aria-label={label}>
      <div ref={spacerRef} className="vlist-spacer">
        <div ref={windowRef} className="vlist-window">
          {rows}
        </div>
      </div>
    </div>
  );
}
