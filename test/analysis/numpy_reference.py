# Independent numpy (float64, data-space SVD/QR) computation of SVCCA, PWCCA and linear CKA on
# /work/shared/fixtures/cca, used as constants in test/analysis/cca.test.ts. Run: python3 numpy_reference.py
# (numpy 2.4.6 gave the values in the test). get_cca is a port of google/svcca cca_core.get_cca_similarity;
# svcca is the google/svcca tutorials' SVCCA (SVD of the centred activations, 99% of the variance, then
# get_cca_similarity), svcca_cov the same computed through the covariance; pwcca is Morcos et al. with the
# whitened canonical directions of the smaller layer and centred activations.
#
# `python3 numpy_reference.py --serve` is the timing reference of bench/svcca.bench.ts: it reads one JSON
# request per line on stdin and answers one JSON line on stdout:
#   {"cmd": "load", "x": path, "y": path, "dx": n, "dy": n, "m": n}   float32 neurons x datapoints files
#   {"cmd": "svcca"}                                                   times svcca_cov() on them (float64): wall and CPU seconds
#   {"cmd": "info"}                                                    numpy version, OpenBLAS kernel and threads
import numpy as np, json
import os, sys, time

def pdsqrt(a):
    w,v=np.linalg.eigh(a); w=np.sqrt(np.maximum(w,0)); return v@np.diag(w)@v.T
def get_cca(acts1,acts2,epsilon=0.,threshold=0.98):
    numx=acts1.shape[0]
    cov=np.cov(acts1,acts2)
    return get_cca_cov(cov[:numx,:numx].copy(),cov[numx:,numx:].copy(),cov[:numx,numx:].copy(),epsilon,threshold)

def get_cca_cov(sxx,syy,sxy,epsilon=0.,threshold=0.98):
    # get_cca_similarity from its np.cov step on
    xmax=np.max(np.abs(sxx)); ymax=np.max(np.abs(syy))
    sxx/=xmax; syy/=ymax; sxy/=np.sqrt(xmax*ymax)
    xi=np.abs(np.diag(sxx))>=epsilon; yi=np.abs(np.diag(syy))>=epsilon
    sxx=sxx[xi][:,xi]; syy=syy[yi][:,yi]; sxy=sxy[xi][:,yi]
    sxx+=epsilon*np.eye(sxx.shape[0]); syy+=epsilon*np.eye(syy.shape[0])
    ix=pdsqrt(np.linalg.pinv(sxx)); iy=pdsqrt(np.linalg.pinv(syy))
    arr=ix@sxy@iy
    u,s,v=np.linalg.svd(arr)
    s=np.abs(s)
    idx=None
    for i in range(len(s)):
        if np.sum(s[:i])/np.sum(s)>=threshold: idx=i; break
    return dict(s=s,mean=np.mean(s[:idx]),u=u,v=v,ix=ix,iy=iy,xi=xi,yi=yi)

def svcca(a,b,frac=0.99,eps=1e-10):
    out=[]
    for x in (a,b):
        c=x-x.mean(axis=1,keepdims=True)
        U,s,V=np.linalg.svd(c,full_matrices=False)
        k=int(np.searchsorted(np.cumsum(s**2)/np.sum(s**2),frac)+1)
        out.append((s[:k,None]*V[:k],k))
    r=get_cca(out[0][0],out[1][0],epsilon=eps)
    return r['mean'],out[0][1],out[1][1]

def svcca_cov(a,b,frac=0.99,eps=1e-10):
    # The same SVCCA with each side's SVD taken through its covariance: the reduced activations
    # s[:k] * V[:k] have covariance diag(eigenvalues[:k]) and cross-covariance Ux^T Sxy Uy, so
    # get_cca_similarity runs on those. Same results as svcca() (to ~1e-12 on the fixture); for
    # 512 x 50,000 np.linalg.svd of the data takes ~20x longer than this whole function here.
    dx=a.shape[0]
    cov=np.cov(a,b)
    sxx=cov[:dx,:dx]; syy=cov[dx:,dx:]; sxy=cov[:dx,dx:]
    red=[]
    for s in (sxx,syy):
        w,u=np.linalg.eigh(s); w=np.maximum(w[::-1],0); u=u[:,::-1]
        k=int(np.searchsorted(np.cumsum(w)/np.sum(w),frac)+1)
        red.append((w[:k],u[:,:k],k))
    (wx,ux,kx),(wy,uy,ky)=red
    r=get_cca_cov(np.diag(wx),np.diag(wy),ux.T@sxy@uy,epsilon=eps)
    return r['mean'],kx,ky

def pwcca(a,b,eps=1e-10):
    r=get_cca(a,b,epsilon=eps)
    if r['xi'].sum()<=r['yi'].sum():
        acts=a[r['xi']]; dirs=(r['ix']@r['u']).T  # columns of ix@u are canonical directions
    else:
        acts=b[r['yi']]; dirs=(r['iy']@r['v'].T).T
    k=len(r['s'])
    c=acts-acts.mean(axis=1,keepdims=True)
    H=dirs[:k]@c
    Q,_=np.linalg.qr(H.T)
    w=np.sum(np.abs(Q.T@c.T),axis=1); w/=w.sum()
    return float(np.sum(w*r['s']))

def openblas_info():
    try:
        import ctypes, glob
        lib=ctypes.CDLL(glob.glob(os.path.join(os.path.dirname(np.__file__),'..','numpy.libs','libscipy_openblas*.so'))[0])
        for suffix in ('64_','_64_',''):
            try:
                core=getattr(lib,'scipy_openblas_get_corename'+suffix); core.restype=ctypes.c_char_p
                threads=getattr(lib,'scipy_openblas_get_num_threads'+suffix)
                return dict(kernel=core().decode(),threads=int(threads()))
            except AttributeError: pass
    except Exception as e:
        return dict(error=str(e))
    return {}

def serve():
    a=b=None
    for line in sys.stdin:
        req=json.loads(line)
        if req['cmd']=='load':
            a=np.fromfile(req['x'],dtype='<f4').reshape(req['dx'],req['m']).astype(np.float64)
            b=np.fromfile(req['y'],dtype='<f4').reshape(req['dy'],req['m']).astype(np.float64)
            out=dict(ok=True)
        elif req['cmd']=='svcca':
            t=time.perf_counter(); c=time.process_time(); mean,kx,ky=svcca_cov(a,b)
            out=dict(seconds=time.perf_counter()-t,cpu=time.process_time()-c,mean=float(mean),kx=kx,ky=ky)
        elif req['cmd']=='info':
            out=dict(numpy=np.__version__,**openblas_info())
        else:
            out=dict(error='unknown command '+str(req['cmd']))
        print(json.dumps(out),flush=True)

if __name__=='__main__':
    if sys.argv[1:]==['--serve']:
        serve(); sys.exit(0)
    d=(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../shared/fixtures/cca'))+'/'
    a1=np.fromfile(d+'acts1.f32',dtype='<f4').reshape(64,10000).astype(np.float64)
    a2=np.fromfile(d+'acts2.f32',dtype='<f4').reshape(48,10000).astype(np.float64)
    print(json.dumps(dict(
      svcca=svcca(a1,a2), svcca_cov=svcca_cov(a1,a2), pwcca12=pwcca(a1,a2), pwcca21=pwcca(a2,a1),
      cka=float(np.linalg.norm((a2-a2.mean(1,keepdims=True))@(a1-a1.mean(1,keepdims=True)).T)**2/(np.linalg.norm((a1-a1.mean(1,keepdims=True))@(a1-a1.mean(1,keepdims=True)).T)*np.linalg.norm((a2-a2.mean(1,keepdims=True))@(a2-a2.mean(1,keepdims=True)).T))),
      cca_eps=get_cca(a1,a2,epsilon=1e-10)['mean'],
    )))
